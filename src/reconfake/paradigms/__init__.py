"""Reconstruction paradigms: codec, vocoder resynthesis and diffusion backends, one registry."""
