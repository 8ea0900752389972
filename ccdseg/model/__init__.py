"""The network and its training: U-Net, loss, presets, input normalisation, training data and outputs."""
