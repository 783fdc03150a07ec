"""PyTorch checkpoint -> ONNX (window and streaming graphs) with a parity check and the model
contract in the ONNX metadata."""
