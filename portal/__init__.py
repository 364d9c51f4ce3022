"""The embedded portal: a stand-in for the CARM client portal API, and our client for it.

``portal.app`` serves declarations over HTTP, ``portal.client`` is what the
gateway uses to post them. See docs/portal-api.md.
"""
