"""reconfake: hard samples by reconstruction for generalisable audio deepfake detection."""
__version__ = "0.1.0"
