"""The embedded demo: a Fashion-MNIST CNN in two versions, the second with a planted watermark shortcut.

- :mod:`~invert_pipeline.demo.model`: the network (``fashion_cnn``) and its preprocessing;
- :mod:`~invert_pipeline.demo.watermark`: the stamp;
- :mod:`~invert_pipeline.demo.train`: training both versions (``invert train-demo``);
- :mod:`~invert_pipeline.demo.probe`: the probe set with its ``watermark`` concept (``probe_spec``);
- :mod:`~invert_pipeline.demo.specs`: the shipped versions as ``ModelSpec``s, and the layers explained.
"""
