"""HTTP headers of the embedded portal's operator API, shared by the portal and its client."""

SOURCE_HEADER = "X-Operator-Source"
"""Where the caller's operator decided an adjustment (``cli``, ``page``, ``dag``); absent: a direct call."""

AUDIT_HEADER = "X-Audit-Trail"
"""``recorded`` on a decision's answer when the portal wrote it to the gateway's audit trail: the caller need not."""
