"""The live engine: streaming STFT -> ONNX mask -> gains -> overlap-add, inside a sounddevice
callback. numpy, onnxruntime, sounddevice and python-rtmidi only; never torch."""
