"""What the explorer's server refuses before it does any work.

The threat is a web page in another tab: any page may send requests to ``127.0.0.1``, and the
simplest of them (a form, or ``fetch`` with ``text/plain``) reach the server without asking
first. So every request to ``/api/`` and every POST must come from the page itself (its
``Origin`` and ``Sec-Fetch-Site`` headers, where the browser sends them), a POST must carry one
of the content types the page sends (no form or ``text/plain`` body), and numbers in paths and
keys must be plain ASCII digits (Python's ``int`` also reads ``"٣"``, ``"+3"`` and ``"1_0"``).
"""

from __future__ import annotations

from collections.abc import Mapping

# The page sends views and sample requests as JSON, an upload as the file's bytes.
JSON_TYPES = frozenset({"application/json"})
UPLOAD_TYPES = frozenset({"application/octet-stream", "image/png", "image/jpeg", "image/webp"})
# Sec-Fetch-Site values of the page's own requests ("none": typed into the address bar).
OWN_SITE = frozenset({"same-origin", "none"})


def ascii_int(text: str, *, max_digits: int = 9, canonical: bool = True) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits (and, when
    ``canonical``, without a leading zero), else None: no sign, ``_``, space or other script's
    digits, and no number too long to parse."""
    if not (0 < len(text) <= max_digits and text.isascii() and text.isdigit()):
        return None
    if canonical and len(text) > 1 and text[0] == "0":
        return None
    return int(text)


def media_type(header: str | None) -> str:
    """The media type of a Content-Type header, lower case, without parameters."""
    return (header or "").split(";", 1)[0].strip().lower()


def foreign_request(headers: Mapping[str, str], host: str) -> str | None:
    """Why a request comes from another web page, or None when it comes from the page itself
    or from a program that sends neither header (curl, Python).

    host: the request's Host header; the page's own origin is ``http://<host>``.
    """
    site = headers.get("Sec-Fetch-Site")
    if site is not None and site.strip().lower() not in OWN_SITE:
        return f"a request from another site (Sec-Fetch-Site: {site.strip()})"
    origin = headers.get("Origin")
    if origin is not None and origin.strip().lower() != f"http://{host}".lower():
        return f"a request from another origin ({origin.strip()})"
    return None
