"""Message-text comparison: finds the same question sent from two channels.

A customer who writes on Avito and then on WhatsApp often sends the same text twice, with a typo,
another greeting or the words moved about. That is evidence only when the text is specific: stock
phrases ("Актуально?", "Цена?") are sent by many different customers and must never link them.

Keys keep Cyrillic as is (unlike names, texts are compared within one language).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from rapidfuzz import fuzz

# A text needs at least this many informative tokens (not greetings, stock words or stopwords) to
# say anything about who sent it.
MIN_SPECIFIC_TOKENS = 2
# Informative tokens are at least this long, unless they carry digits ("r16", "2019").
MIN_INFORMATIVE_LEN = 3
# token_set_ratio is 100 when one text's words are a subset of the other's; it is scaled by
# (shorter / longer length) ** SUBSET_LENGTH_EXPONENT so a 2-word text does not equal a 20-word one.
SUBSET_LENGTH_EXPONENT = 0.5
# text_blocks keys on this many of the longest informative tokens ...
TEXT_BLOCK_TOKENS = 3
# ... by their first letters, which also absorbs inflection ("масла"/"масло") and late typos.
TEXT_BLOCK_PREFIX_LEN = 4

_CACHE_SIZE = 65536

# Greetings and politeness: they differ between two sends of the same question.
_GREETING_WORDS = """
    здравствуйте здравствуй здрасте здрасьте добрый доброе доброго добрый день вечер утро утра дня вечера
    привет приветствую салют хай алло але спасибо пожалуйста подскажите скажите извините
    уважаемый уважаемые hi hello hey helo good morning afternoon evening thanks thank you please
    czesc cześć dzien dzień dobry witam witaj dziekuje dziękuję prosze proszę
    заранее благодарю благодарна благодарен advance regards cheers pozdrawiam
"""
_GREETINGS = frozenset(_GREETING_WORDS.split())
# Words that carry no subject: the stock phrases of classified-ad chats, and plain stopwords.
_STOP_WORDS = """
    актуально актуален актуальна актуальное актуальны еще продается продаете
    в во на и а но или не ни да нет ли же бы то это этот эта эти тот там тут здесь как так что чем
    где когда куда откуда почему зачем сколько стоит стоимость цена цену ценник почем торг
    уместен уместно возможен можно могу хочу купить посмотреть взять забрать интересует интересно
    объявление объявлению товар вопрос есть наличии налич у вас вам вы я мы мне меня нас нам ваш ваше
    по за из от до для при про с со к ко о об обо мой моя мое свой он она оно они его ее их
    ок ok окей ага угу хорошо ладно понятно спасибо the a an is are do does you your for of to in on
    it this that still available price how much can i want buy
    жду ждем ответа ответ ответьте скидка скидку скидки адрес адреса подумаю подумать приеду приедем
    перезвонить перезвоните позвоните можете свяжитесь связаться
    czekam na odpowiedz odpowiedź dziekuje dziękuję adres jaki prosze proszę
    what address thanks thank waiting wait answer reply call back discount ok okay any update updates news
"""
# Written as text_key writes them (ё -> е).
_STOPWORDS = frozenset(_STOP_WORDS.split())
_NON_WORD_RE = re.compile(r"[^\W_]+")
# Swapped letters are the commonest typo ("Подсакжите", "Дборый вечер"): a word of this length or
# more with a stock word's first letter and letters in another order is that stock word.
MIN_SWAP_LEN = 5


@lru_cache(maxsize=_CACHE_SIZE)
def swap_key(word: str) -> str:
    """The same for a word and its typo with swapped letters (first letter kept)."""
    return word[0] + "".join(sorted(word[1:]))


_GREETING_SWAPS = frozenset(swap_key(w) for w in _GREETINGS if len(w) >= MIN_SWAP_LEN)
_STOPWORD_SWAPS = frozenset(swap_key(w) for w in _STOPWORDS if len(w) >= MIN_SWAP_LEN)


@lru_cache(maxsize=_CACHE_SIZE)
def _is_greeting(token: str) -> bool:
    return token in _GREETINGS or (len(token) >= MIN_SWAP_LEN and swap_key(token) in _GREETING_SWAPS)


def _is_stopword(token: str) -> bool:
    return token in _STOPWORDS or (len(token) >= MIN_SWAP_LEN and swap_key(token) in _STOPWORD_SWAPS)


# A customer who repeats a question on another channel often says so first ("Продублирую: ...",
# "Не дождался ответа, пишу сюда. ...", "Sent this elsewhere too: ..."). Such a note says nothing about
# the question, so it is dropped: the rest is compared as the question itself. A note is a short
# opening clause, ended by a colon, a full stop, an exclamation mark or a dash, that holds one of
# these word beginnings (lower-cased, ё written е) ...
_REPEAT_NOTE_WORDS = """
    повтор продубл дублир дублю дубль дождал дождуся дозвон писал писала писали пишу
    repeat resend resent again elsewhere duplicat wrote
    powtarz ponawiam ponownie duplikuj pisal pisał doczekal doczekał
"""
_REPEAT_NOTE_STEMS = tuple(_REPEAT_NOTE_WORDS.split())
# ... or one of these phrases.
_REPEAT_NOTE_PHRASES = ("еще раз", "once more", "one more time", "sent this", "jeszcze raz")
# A note is at most this many words long, and something specific must be left after it.
REPEAT_NOTE_MAX_WORDS = 6
_NOTE_RE = re.compile(r"^\s*([^:.!?\n—–]{1,80}?)\s*(?::|\.|!|\s[—–-]\s)\s*(\S.*)$", re.DOTALL)


def strip_repeat_note(lowered: str) -> str:
    """The text without an opening note saying it repeats an earlier message (lower-cased input)."""
    for _ in range(2):  # "Писала вам уже, продублирую. Повторю вопрос: ..."
        match = _NOTE_RE.match(lowered)
        if match is None:
            break
        note, rest = match.groups()
        words = _NON_WORD_RE.findall(note)
        if not words or len(words) > REPEAT_NOTE_MAX_WORDS:
            break
        if not (
            any(w.startswith(_REPEAT_NOTE_STEMS) for w in words)
            or any(p in " ".join(words) for p in _REPEAT_NOTE_PHRASES)
        ):
            break
        lowered = rest
    return lowered


@lru_cache(maxsize=_CACHE_SIZE)
def text_key(text: str) -> str:
    """Lower-cased words of a text: ё -> е, an opening repeat note ("Продублирую:"), punctuation and
    emoji dropped, single spaces."""
    lowered = unicodedata.normalize("NFKC", text).lower().replace("ё", "е")
    return " ".join(_NON_WORD_RE.findall(strip_repeat_note(lowered)))


@lru_cache(maxsize=_CACHE_SIZE)
def _content_key(text: str) -> str:
    """The key without greetings (if anything else is left)."""
    words = text_key(text).split()
    content = [w for w in words if not _is_greeting(w)]
    return " ".join(content or words)


@lru_cache(maxsize=_CACHE_SIZE)
def _informative(token: str) -> bool:
    if _is_greeting(token) or _is_stopword(token):
        return False
    return len(token) >= MIN_INFORMATIVE_LEN or any(ch.isdigit() for ch in token)


@lru_cache(maxsize=_CACHE_SIZE)
def _informative_tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in text_key(text).split() if _informative(t))


def informative_tokens(text: str) -> tuple[str, ...]:
    """The words of a text that carry its subject (no greetings, stopwords or stock phrases)."""
    return _informative_tokens(text)


def text_similarity(a: str, b: str) -> float:
    """0..100: how alike two texts are, ignoring case, punctuation, greetings and word order."""
    key_a, key_b = _content_key(a), _content_key(b)
    if not key_a or not key_b:
        return 0.0
    shorter, longer = sorted((len(key_a), len(key_b)))
    subset = fuzz.token_set_ratio(key_a, key_b) * (shorter / longer) ** SUBSET_LENGTH_EXPONENT
    return float(max(fuzz.ratio(key_a, key_b), fuzz.token_sort_ratio(key_a, key_b), subset))


@lru_cache(maxsize=_CACHE_SIZE)
def is_generic_text(text: str) -> bool:
    """Whether many different customers could have sent this text (too short, or stock phrases)."""
    return len(_informative_tokens(text)) < MIN_SPECIFIC_TOKENS


@lru_cache(maxsize=_CACHE_SIZE)
def text_blocks(text: str) -> frozenset[str]:
    """Blocking keys for near-identical texts: prefixes of the longest informative tokens.

    Generic texts get no keys: they must never be matched.
    """
    if is_generic_text(text):
        return frozenset()
    tokens = sorted(set(_informative_tokens(text)), key=lambda t: (-len(t), t))
    return frozenset(f"t:{t[:TEXT_BLOCK_PREFIX_LEN]}" for t in tokens[:TEXT_BLOCK_TOKENS])
