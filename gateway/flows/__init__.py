"""The flows: one file through the gateway, per format, over one contract.

``contract``: what every flow is given (``FlowOptions``, the protocols it
writes through) and the deterministic keys; ``spool``: phase 1's verdicts on
disk; ``answering``: the post-and-answer loop every declaration flow shares;
``replies``: the EDIFACT acknowledgement streams; ``handlers``: which module
answers which message (type, version, guide) or XML root. The flows are
``edifact`` (the interchange: envelope, CONTRL, dispatch to ``cusdec`` and
``edifact_payments``), ``cadxml`` (CAD-IN) and ``pain001``; ``dispatch`` picks
the flow for a file.
"""
