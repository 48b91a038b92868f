"""Suite-wide set-up: only what every test relies on and no test can do for itself."""

from __future__ import annotations

import signal

# A shell starts background jobs with SIGINT ignored, and every child inherits that: a
# ``gradtop`` subprocess would then install no KeyboardInterrupt handler, and the tests
# that press Ctrl-C on one (check --follow, the demo) would hang. A handled signal is
# reset to the default in a child, so handling it here gives the children theirs back.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
