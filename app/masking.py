"""Contact details on screen: one policy for the inbox, its JSON API and the ops pages.

Phones and e-mails are shown masked (+7 912 ***-**-89, a***@example.com) wherever they appear: as
identifiers, inside profile keys (a WhatsApp profile is named by its number) and in graph labels.
The unmasked values are shown only through the audited reveal (`InboxService.reveal`).

A form that must name one profile cannot carry its key without carrying the number in it, so it
sends an opaque reference instead (`ProfileRefs`): a keyed hash of the profile key, resolved
against the profiles of the person the form is about. The key of the hash lives in the store, so
every web process behind one store issues and resolves the same references.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Iterable

from core.phones import mask_email, mask_phone
from core.values import Channel, IdKind
from store.base import BaseStore

REF_PREFIX = "r_"
REF_NOTE = "masking.ref_key"


def mask_value(value: str) -> str:
    """A phone number (E.164) or an e-mail masked; any other value as it is."""
    if value.startswith("+") and value[1:].isdigit():
        return mask_phone(value)
    if "@" in value.strip("@"):
        return mask_email(value)
    return value


def mask_identifier(key: str) -> str:
    """An identifier key as a manager reads it: `phone:+79123456789` -> `+7 912 ***-**-89`."""
    kind, _, value = key.partition(":")
    if kind == IdKind.PHONE:
        return mask_phone(value)
    if kind == IdKind.EMAIL:
        return mask_email(value)
    if kind == IdKind.TELEGRAM_USERNAME:
        return "@" + value
    return value


def mask_key(key: str) -> str:
    """An identifier or profile key with its contact part masked, its kind kept:
    `whatsapp:+79123456789` -> `whatsapp:+7 912 ***-**-89`, `email:anna@x.ru` -> `email:a***@x.ru`."""
    kind, sep, value = key.partition(":")
    if not sep:
        return key
    if kind == IdKind.PHONE or kind == Channel.WHATSAPP:
        return f"{kind}:{mask_phone(value)}"
    if kind == IdKind.EMAIL:
        return f"{kind}:{mask_email(value)}"
    return f"{kind}:{mask_value(value)}"


_PHONE_IN_TEXT = re.compile(r"\+\d{7,15}")
_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def mask_text(text: str) -> str:
    """Free text from a provider or a failure (an error naming the number it refused) with its
    E.164 numbers and e-mail addresses masked."""
    text = _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)), text)
    return _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)


# A masked phone or e-mail as `mask_phone` and `mask_email` write it, found inside a sentence: the
# pages keep each one on one line ("+7 912 ***-**-89" broken after "912" reads as two numbers).
MASKED_IN_TEXT = re.compile(r"\+\d \d{3} \*{3}-\*{2}-\d{2}|[^\s,;:()<>&]\*{3}@[\w.-]*\w")


def as_is(key: str) -> str:
    return key


KeyShown = Callable[[str], str]  # how a page names an identifier or profile key: `mask_key` or `as_is`


class ProfileRefs:
    """Opaque, stable references to profile keys (see the module docstring)."""

    def __init__(self, store: BaseStore) -> None:
        self.store = store
        self._key: bytes | None = None

    async def _secret(self) -> bytes:
        if self._key is None:
            found = await self.store.get_note(REF_NOTE)
            if found is None:
                # The first reference ever: made once under the lock, so two processes agree on it.
                async with self.store.lock([REF_NOTE]):
                    found = await self.store.get_note(REF_NOTE)
                    if found is None:
                        found = secrets.token_hex(32)
                        await self.store.put_note(REF_NOTE, found)
            self._key = bytes.fromhex(found)
        return self._key

    async def ref(self, profile_key: str) -> str:
        digest = hmac.new(await self._secret(), profile_key.encode(), hashlib.sha256).hexdigest()
        return REF_PREFIX + digest[:24]

    async def refs(self, profile_keys: Iterable[str]) -> dict[str, str]:
        """Profile key -> reference."""
        return {key: await self.ref(key) for key in profile_keys}

    async def resolve(self, ref: str, candidates: Iterable[str]) -> str | None:
        """The candidate profile key `ref` stands for, or None."""
        for key in candidates:
            if hmac.compare_digest(await self.ref(key), ref):
                return key
        return None


def is_ref(value: str) -> bool:
    return value.startswith(REF_PREFIX)
