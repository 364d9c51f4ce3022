"""The flows: one file through the gateway, per format, over one contract.

``contract``: what every flow is given (``FlowOptions``, the protocols it writes
through) and the deterministic keys; ``spool``: phase 1's verdicts on disk;
``answering``: the post-and-answer loop of the declaration flows; ``replies``:
the EDIFACT acknowledgement files; ``handlers``: which module answers which
EDIFACT message (type, version, guide) or XML root. The flows: ``edifact`` (the
interchange: envelope, CONTRL, ``received_contrl``; its messages go to
``cusdec`` and ``edifact_payments``), ``cadxml`` (CAD-IN) and ``pain001``, the
payment flows sharing ``payments``; ``dispatch`` picks the flow for a file.
"""
