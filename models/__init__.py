"""The PyTorch U-Net, data sets, augmentation and training (needs the ``train`` extra)."""
