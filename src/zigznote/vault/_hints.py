"""Hints shared by the vault's error messages (one wording everywhere)."""

from __future__ import annotations

HINT_NEW_KEY = "generate one with `zigznote keys init` (or `zigznote keys init --file PATH`)"
HINT_REWRITE = "the stored value was altered or not written by zigznote; set the secret again"
HINT_KEY_SOURCES = (
    "set ZIGZNOTE_MASTER_KEY (or ZIGZNOTE_MASTER_KEY_PREVIOUS during a rotation) to the key "
    "that encrypted it; `zigznote keys status` shows which keys are loaded"
)
# After a reload found nothing: the key sources a process re-reads (keyring, key file) do not
# have the key either, so the operator has to bring it back.
HINT_KEY_SOURCES_RELOADED = (
    "no key source has that key (they were re-read just now): put it back as "
    "ZIGZNOTE_MASTER_KEY_PREVIOUS, in the keyring or in the key file; "
    "`zigznote keys status` shows which keys are loaded"
)
# A process cannot see a changed environment variable, so after `keys rotate` with env keys
# the only fix is a restart that hands it both keys.
HINT_ENV_RESTART = (
    "this process has its master key from ZIGZNOTE_MASTER_KEY and cannot re-read it while running: "
    "restart it with the key that encrypted the secret (after `zigznote keys rotate`: "
    "ZIGZNOTE_MASTER_KEY set to the new key, ZIGZNOTE_MASTER_KEY_PREVIOUS to the old one); "
    "`zigznote keys status` shows which keys are loaded"
)
NO_KEY_HINT = "run `zigznote keys init` (OS keyring) or `zigznote keys init --file PATH`, or set ZIGZNOTE_MASTER_KEY"
HINT_NO_KEYRING = (
    "use `zigznote keys init --file PATH` or set ZIGZNOTE_MASTER_KEY instead "
    "(on Linux the keyring needs an unlocked Secret Service, e.g. GNOME Keyring or KWallet)"
)
