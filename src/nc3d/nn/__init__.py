"""Small neural building blocks shared by the codecs (PyTorch)."""
