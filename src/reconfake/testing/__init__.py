"""Helpers for testing reconfake and benchmarking it without downloads.

* :mod:`reconfake.testing.twins`: random-weight twins of the pretrained backends, saved in the
  real Hugging Face formats (and SemantiCodec's), tiny or at real size;
* :mod:`reconfake.testing.checks`: assertions on what the workflow writes (shards);
* :mod:`reconfake.testing.fixtures`: pytest fixture factories over the twins (pytest is
  imported only when a factory is called, so the package imports without it).
"""
