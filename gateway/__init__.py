"""The gateway: settings, the processing pipeline and the ``carm-edi`` CLI."""
