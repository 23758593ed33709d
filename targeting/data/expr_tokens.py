"""Tokens of subgroup expressions, and the error that shows where one went wrong.

The tokenizer reads the analyst's text once, turning it into tokens and rejecting anything that
looks like code (calls, subscripts, dunder names, Python keywords) with a message naming the
construct. The grammar itself is in :mod:`targeting.data.expr`.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from targeting.errors import ConfigError

EXAMPLES = (
    "Write conditions such as \"age > 65\", \"sex == 'F'\", \"40 <= age < 65\" or "
    "\"region in ['North', 'South']\", combined with and / or / not and parentheses; put column names "
    "with spaces in `backticks`."
)

# ---------------------------------------------------------------------------------------------
# Tokens

KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT", "in": "IN", "between": "BETWEEN",
            "true": "BOOL", "false": "BOOL"}
IDENT = re.compile(r"[^\W\d]\w*")
# ASCII digits only: int('٣') would quietly accept other scripts' digits.
_NUMBER = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TWO_CHAR = {"<=": "<=", ">=": ">=", "==": "==", "!=": "!="}
_ONE_CHAR = {"<": "<", ">": ">", "=": "=="}
_PUNCT = {"(": "LPAREN", ")": "RPAREN", "[": "LBRACK", "]": "RBRACK", ",": "COMMA", "-": "MINUS",
          "&": "AND", "|": "OR", "~": "NOT"}
_ESCAPES = {"\\": "\\", "'": "'", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
# Characters with a specific explanation; anything else not in the grammar is "unexpected".
_REJECTED = {
    ";": ("';' is not allowed", "A subgroup is a single expression: combine conditions with 'and' / 'or'."),
    "\\": ("a backslash is only allowed inside quoted text", EXAMPLES),
    ".": ("attribute access ('.') is not allowed", EXAMPLES),
    ":": ("':' is not allowed (this looks like Python code)", EXAMPLES),
    "+": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "*": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "/": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "%": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65 (write 0.5, not 50%)."),
    "^": ("'^' is not supported", "Use 'and', 'or' and 'not' to combine conditions."),
    "!": ("'!' on its own is not supported", "Use 'not' for negation, or '!=' for 'is not equal to'."),
    "≤": ("'≤' is not supported", "Write '<=' instead."),
    "≥": ("'≥' is not supported", "Write '>=' instead."),
    "≠": ("'≠' is not supported", "Write '!=' instead."),
    "{": ("'{' is not allowed (this looks like Python code)", EXAMPLES),
    "}": ("'}' is not allowed (this looks like Python code)", EXAMPLES),
    "@": ("'@' is not allowed (this looks like Python code)", EXAMPLES),
    "$": ("'$' is not allowed", EXAMPLES),
    "?": ("'?' is not allowed", EXAMPLES),
    "#": ("'#' (a comment) is not allowed", "Remove the comment. " + EXAMPLES),
    "‘": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "’": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "“": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "”": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
}
MISSING_WORDS = {"none", "null", "nan", "na", "missing"}


@dataclass(frozen=True)
class Token:
    kind: str  # NAME, COLUMN, NUMBER, STRING, BOOL, CMP, AND, OR, NOT, IN, BETWEEN, punctuation, END
    value: Any
    pos: int
    text: str  # as typed, for messages


def expression_error(text: str, pos: int, what: str, fix: str, headline: str = "is not valid") -> ConfigError:
    """A ConfigError saying what is wrong, where (with a caret under the spot) and how to fix it."""
    shown, caret = text, pos
    if len(text) > 80:  # keep the message readable: show a window around the problem
        start = max(0, min(pos - 40, len(text) - 80))
        shown = ("…" if start else "") + text[start:start + 80] + ("…" if start + 80 < len(text) else "")
        caret = pos - start + (1 if start else 0)
    shown = "".join(" " if c.isspace() else c for c in shown)  # keep the caret under its spot
    where = f"at character {pos + 1}" if pos < len(text) else "at the end"
    return ConfigError(
        f"Subgroup expression {headline}: {what} ({where}).\n    {shown}\n    {' ' * caret}^\n{fix}"
    )


def tokenize(text: str) -> list[Token]:
    """The tokens of an expression, ending with an ``END`` token.

    Raises
    ------
    ConfigError
        For characters outside the grammar, unclosed quotes or backticks, malformed or huge
        numbers, and anything that looks like code (calls, subscripts, dunder names, keywords).
    """
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "'\"":
            i = _read_string(text, i, tokens)
        elif ch == "`":
            end = text.find("`", i + 1)
            if end < 0:
                raise expression_error(text, i, "the backticked column name is not closed",
                             "Close the name with a second backtick, e.g. `monthly income` > 1000.")
            name = text[i + 1:end].strip()
            if not name:
                raise expression_error(text, i, "empty backticks", "Put a column name between the backticks.")
            tokens.append(Token("COLUMN", name, i, text[i:end + 1]))
            i = end + 1
        elif ch.isascii() and (ch.isdigit() or ch == ".") and _NUMBER.match(text, i):
            m = _NUMBER.match(text, i)
            end = m.end()
            if end < n and (text[end] == "." or IDENT.match(text, end) or text[end].isdigit()):
                j = end
                while j < n and (text[j].isalnum() or text[j] in "._"):
                    j += 1
                raise expression_error(text, i, f"{text[i:j]!r} is not a number",
                             "Write numbers like 65, -1.5 or 1e3 (no units, thousands separators or dots).")
            value = float(m.group()) if any(c in m.group() for c in ".eE") else int(m.group())
            try:
                if abs(value) >= 2 ** 53:  # beyond float precision; keeps numpy and pandas in step
                    value = float(value)
                if not np.isfinite(value):
                    raise OverflowError
            except OverflowError:
                raise expression_error(text, i, f"the number {m.group()[:20]!r} is too large", "Use a smaller number.") from None
            tokens.append(Token("NUMBER", value, i, m.group()))
            i = end
        elif IDENT.match(text, i):
            word = IDENT.match(text, i).group()
            kind = KEYWORDS.get(word.lower(), "NAME")
            value = (word.lower() == "true") if kind == "BOOL" else word
            tokens.append(Token(kind, value, i, word))
            i += len(word)
        elif text[i:i + 2] in _TWO_CHAR:
            tokens.append(Token("CMP", _TWO_CHAR[text[i:i + 2]], i, text[i:i + 2]))
            i += 2
        elif text[i:i + 2] == "<>":
            raise expression_error(text, i, "'<>' is not supported", "Write '!=' for 'is not equal to'.")
        elif text[i:i + 2] in ("&&", "||"):
            raise expression_error(text, i, f"{text[i:i + 2]!r} is not supported", "Write 'and' / 'or' (or '&' / '|').")
        elif ch in _ONE_CHAR:
            tokens.append(Token("CMP", _ONE_CHAR[ch], i, ch))
            i += 1
        elif ch in _PUNCT:
            tokens.append(Token(_PUNCT[ch], ch, i, ch))
            i += 1
        else:
            # Report an earlier call or dunder first: "__import__('os').system" is a call at heart.
            _reject_calls_and_subscripts(text, tokens + [Token("OTHER", ch, i, ch)])
            what, fix = _REJECTED.get(ch, (f"unexpected character {ch!r}", EXAMPLES))
            raise expression_error(text, i, what, fix)
    tokens.append(Token("END", None, n, ""))
    _reject_calls_and_subscripts(text, tokens)
    return tokens


def _read_string(text: str, start: int, tokens: list[Token]) -> int:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            tokens.append(Token("STRING", "".join(out), start, text[start:i + 1]))
            return i + 1
        if ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt not in _ESCAPES:
                raise expression_error(text, i, f"unsupported escape '\\{nxt}' in quoted text",
                             "Inside quotes, write \\\\ for a backslash and \\' or \\\" for a quote.")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise expression_error(text, start, "the quoted text is not closed",
                 f"Close it with a matching {quote}, e.g. sex == {quote}F{quote}.")


def _reject_calls_and_subscripts(text: str, tokens: list[Token]) -> None:
    # Done on the token stream so that code like open('f') or x[0] gets a message naming the
    # construct rather than a generic "expected a comparison".
    callable_kinds = {"NAME", "COLUMN", "STRING", "RPAREN", "RBRACK"}
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.kind in callable_kinds and nxt.kind == "LPAREN":
            raise expression_error(text, nxt.pos, f"function calls are not allowed ({tok.text}(...))", EXAMPLES)
        if tok.kind in callable_kinds and nxt.kind == "LBRACK":
            raise expression_error(text, nxt.pos, f"subscripts are not allowed ({tok.text}[...])",
                         "A list in [...] may only follow 'in', e.g. region in ['North', 'South'].")
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.kind != "NAME":
            continue
        if nxt.kind == "STRING" and nxt.pos == tok.pos + len(tok.text):
            raise expression_error(text, tok.pos, f"string prefixes such as {tok.text}'...' are not allowed",
                         "Write plain quoted text, e.g. sex == 'F'.")
        if tok.value == "is":
            raise expression_error(text, tok.pos, "'is' is not supported", "Write == or != instead, e.g. sex == 'F'.")
        if tok.value.startswith("__") or (keyword.iskeyword(tok.value) and tok.value != "None"):
            raise expression_error(text, tok.pos, f"{tok.value!r} is not allowed (this looks like Python code)",
                         EXAMPLES + " A column with this name must be written in `backticks`.")

