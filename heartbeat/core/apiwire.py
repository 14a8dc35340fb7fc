"""The API socket's vocabulary, shared by the daemon's server and its clients (cl_status).

Apart from the server so that a client loads neither the event loop nor the
configuration parsers the server needs: cl_status is a command admins type.
"""

from __future__ import annotations

DEFAULT_SOCKET = "/var/run/heartbeat/register"

REQUEST = "hbapi-req"
RESPONSE = "hbapi-resp"
RESULT_OK = "OK"
RESULT_MORE = "ok/more"
RESULT_BADREQ = "badreq"
CLIENT_STATUS_REPLY = "respond-cstatus"
# pyheartbeat's own request (the original answers it badreq): one reply per resource monitor
MONITOR_REQUEST = "rscmonitor"


# what a C int (decimal) or unsigned int (%x) holds; anything wider is no number here
_C_INT_RANGE = {10: (-2 ** 31, 2 ** 31 - 1), 16: (0, 2 ** 32 - 1)}


def scan_c_int(text, base: int) -> int | None:
    """The leading integer of a field value the way C's sscanf/atoi read it, None if there
    is none or it does not fit the C type (an int; an unsigned int in hex).

    Both ends of the API parse numbers this way, so junk after the digits is ignored."""
    if not isinstance(text, str):
        return None
    s = text.lstrip()
    sign = 1
    if s[:1] in ("+", "-"):
        sign, s = (-1 if s[0] == "-" else 1), s[1:]
    if base == 16 and s[:2].lower() == "0x":
        s = s[2:]
    digits = "0123456789abcdef"[:base]
    n = 0
    while n < len(s) and s[n].lower() in digits:
        n += 1
    if n == 0:
        return None
    # leading zeros aside, more than 10 digits never fit: no int() of thousands of digits
    significant = s[:n].lstrip("0") or "0"
    if len(significant) > 10:
        return None
    value = sign * int(significant, base)
    low, high = _C_INT_RANGE[base]
    return value if low <= value <= high else None
