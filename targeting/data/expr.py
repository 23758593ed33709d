"""Subgroup expressions such as ``age > 65`` or ``sex == 'F' and 40 <= age < 65``.

Analysts type these on the command line and in config sheets, so they are untrusted text. They
are never handed to Python (no ``eval``, no ``DataFrame.query``): a small tokenizer and a
recursive-descent parser accept a deliberately tiny grammar, and :func:`evaluate_subgroup`
computes the mask with numpy. Anything outside the grammar (calls, attribute access, subscripts,
arithmetic, ``;``, Python keywords, dunder names) is rejected with a :class:`ConfigError`.

Grammar (keywords are case-insensitive; ``&``, ``|`` and ``~`` are synonyms of ``and``, ``or``
and ``not``, with the same precedence: ``not`` binds tightest, then ``and``, then ``or``)::

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | condition
    condition  := value (compare value)+          # "40 <= age < 65": every link holds
                | column ["not"] "in" list
                | column "between" number "and" number      # inclusive
    list       := "[" literal ("," literal)* [","] "]"      # or ( ... )
    value      := column | literal
    column     := identifier | `any name in backticks`
    literal    := number | 'text' | "text" | True | False
    compare    := "<" | "<=" | ">" | ">=" | "==" | "=" | "!="

Each comparison links one column with one value; a column on its own is not a condition (write
``flag == True``). Unlike pandas, ``~ age > 65`` means ``not (age > 65)``.

Missing values: a comparison on a missing cell is False whatever the operator, including ``!=``
and ``not in`` (a missing sex is neither 'F' nor "not 'F'"). ``not`` is plain boolean logic on
that mask, so ``not (age > 65)`` selects people aged 65 or less *and* people with no age.

Types (checked by :func:`evaluate_subgroup`, which sees the data): numeric columns compare with
numbers (True/False count as 1/0); True/False columns with True/False or 1/0, using ``==``,
``!=`` and ``in`` only; text (and categorical) columns with quoted text using ``==``, ``!=`` and
``in`` only, both sides stripped of surrounding spaces, and the text must be a value that occurs
in the column (this catches typos that would silently select nobody).
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from targeting.errors import ConfigError

MAX_LENGTH = 500
MAX_DEPTH = 20

_EXAMPLES = (
    "Write conditions such as \"age > 65\", \"sex == 'F'\", \"40 <= age < 65\" or "
    "\"region in ['North', 'South']\", combined with and / or / not and parentheses; put column names "
    "with spaces in `backticks`."
)

# ---------------------------------------------------------------------------------------------
# Tokens

_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT", "in": "IN", "between": "BETWEEN",
             "true": "BOOL", "false": "BOOL"}
_IDENT = re.compile(r"[^\W\d]\w*")
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
    "\\": ("a backslash is only allowed inside quoted text", _EXAMPLES),
    ".": ("attribute access ('.') is not allowed", _EXAMPLES),
    ":": ("':' is not allowed (this looks like Python code)", _EXAMPLES),
    "+": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "*": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "/": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65."),
    "%": ("arithmetic is not supported", "Compare a column directly with a value, e.g. age > 65 (write 0.5, not 50%)."),
    "^": ("'^' is not supported", "Use 'and', 'or' and 'not' to combine conditions."),
    "!": ("'!' on its own is not supported", "Use 'not' for negation, or '!=' for 'is not equal to'."),
    "≤": ("'≤' is not supported", "Write '<=' instead."),
    "≥": ("'≥' is not supported", "Write '>=' instead."),
    "≠": ("'≠' is not supported", "Write '!=' instead."),
    "{": ("'{' is not allowed (this looks like Python code)", _EXAMPLES),
    "}": ("'}' is not allowed (this looks like Python code)", _EXAMPLES),
    "@": ("'@' is not allowed (this looks like Python code)", _EXAMPLES),
    "$": ("'$' is not allowed", _EXAMPLES),
    "?": ("'?' is not allowed", _EXAMPLES),
    "#": ("'#' (a comment) is not allowed", "Remove the comment. " + _EXAMPLES),
    "‘": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "’": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "“": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
    "”": ("curly quotes are not supported", "Use straight quotes: 'F' or \"F\"."),
}
_MISSING_WORDS = {"none", "null", "nan", "na", "missing"}


@dataclass(frozen=True)
class _Token:
    kind: str  # NAME, COLUMN, NUMBER, STRING, BOOL, CMP, AND, OR, NOT, IN, BETWEEN, punctuation, END
    value: Any
    pos: int
    text: str  # as typed, for messages


def _error(text: str, pos: int, what: str, fix: str, headline: str = "is not valid") -> ConfigError:
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


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
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
                raise _error(text, i, "the backticked column name is not closed",
                             "Close the name with a second backtick, e.g. `monthly income` > 1000.")
            name = text[i + 1:end].strip()
            if not name:
                raise _error(text, i, "empty backticks", "Put a column name between the backticks.")
            tokens.append(_Token("COLUMN", name, i, text[i:end + 1]))
            i = end + 1
        elif ch.isascii() and (ch.isdigit() or ch == ".") and _NUMBER.match(text, i):
            m = _NUMBER.match(text, i)
            end = m.end()
            if end < n and (text[end] == "." or _IDENT.match(text, end) or text[end].isdigit()):
                j = end
                while j < n and (text[j].isalnum() or text[j] in "._"):
                    j += 1
                raise _error(text, i, f"{text[i:j]!r} is not a number",
                             "Write numbers like 65, -1.5 or 1e3 (no units, thousands separators or dots).")
            value = float(m.group()) if any(c in m.group() for c in ".eE") else int(m.group())
            try:
                if abs(value) >= 2 ** 53:  # beyond float precision; keeps numpy and pandas in step
                    value = float(value)
                if not np.isfinite(value):
                    raise OverflowError
            except OverflowError:
                raise _error(text, i, f"the number {m.group()[:20]!r} is too large", "Use a smaller number.") from None
            tokens.append(_Token("NUMBER", value, i, m.group()))
            i = end
        elif _IDENT.match(text, i):
            word = _IDENT.match(text, i).group()
            kind = _KEYWORDS.get(word.lower(), "NAME")
            value = (word.lower() == "true") if kind == "BOOL" else word
            tokens.append(_Token(kind, value, i, word))
            i += len(word)
        elif text[i:i + 2] in _TWO_CHAR:
            tokens.append(_Token("CMP", _TWO_CHAR[text[i:i + 2]], i, text[i:i + 2]))
            i += 2
        elif text[i:i + 2] == "<>":
            raise _error(text, i, "'<>' is not supported", "Write '!=' for 'is not equal to'.")
        elif text[i:i + 2] in ("&&", "||"):
            raise _error(text, i, f"{text[i:i + 2]!r} is not supported", "Write 'and' / 'or' (or '&' / '|').")
        elif ch in _ONE_CHAR:
            tokens.append(_Token("CMP", _ONE_CHAR[ch], i, ch))
            i += 1
        elif ch in _PUNCT:
            tokens.append(_Token(_PUNCT[ch], ch, i, ch))
            i += 1
        else:
            # Report an earlier call or dunder first: "__import__('os').system" is a call at heart.
            _reject_calls_and_subscripts(text, tokens + [_Token("OTHER", ch, i, ch)])
            what, fix = _REJECTED.get(ch, (f"unexpected character {ch!r}", _EXAMPLES))
            raise _error(text, i, what, fix)
    tokens.append(_Token("END", None, n, ""))
    _reject_calls_and_subscripts(text, tokens)
    return tokens


def _read_string(text: str, start: int, tokens: list[_Token]) -> int:
    quote, i, out = text[start], start + 1, []
    while i < len(text):
        ch = text[i]
        if ch == quote:
            tokens.append(_Token("STRING", "".join(out), start, text[start:i + 1]))
            return i + 1
        if ch == "\\":
            nxt = text[i + 1:i + 2]
            if nxt not in _ESCAPES:
                raise _error(text, i, f"unsupported escape '\\{nxt}' in quoted text",
                             "Inside quotes, write \\\\ for a backslash and \\' or \\\" for a quote.")
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _error(text, start, "the quoted text is not closed",
                 f"Close it with a matching {quote}, e.g. sex == {quote}F{quote}.")


def _reject_calls_and_subscripts(text: str, tokens: list[_Token]) -> None:
    # Done on the token stream so that code like open('f') or x[0] gets a message naming the
    # construct rather than a generic "expected a comparison".
    callable_kinds = {"NAME", "COLUMN", "STRING", "RPAREN", "RBRACK"}
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.kind in callable_kinds and nxt.kind == "LPAREN":
            raise _error(text, nxt.pos, f"function calls are not allowed ({tok.text}(...))", _EXAMPLES)
        if tok.kind in callable_kinds and nxt.kind == "LBRACK":
            raise _error(text, nxt.pos, f"subscripts are not allowed ({tok.text}[...])",
                         "A list in [...] may only follow 'in', e.g. region in ['North', 'South'].")
    for tok, nxt in zip(tokens, tokens[1:]):
        if tok.kind != "NAME":
            continue
        if nxt.kind == "STRING" and nxt.pos == tok.pos + len(tok.text):
            raise _error(text, tok.pos, f"string prefixes such as {tok.text}'...' are not allowed",
                         "Write plain quoted text, e.g. sex == 'F'.")
        if tok.value == "is":
            raise _error(text, tok.pos, "'is' is not supported", "Write == or != instead, e.g. sex == 'F'.")
        if tok.value.startswith("__") or (keyword.iskeyword(tok.value) and tok.value != "None"):
            raise _error(text, tok.pos, f"{tok.value!r} is not allowed (this looks like Python code)",
                         _EXAMPLES + " A column with this name must be written in `backticks`.")


# ---------------------------------------------------------------------------------------------
# Syntax tree: conditions combined with not / and / or. Small on purpose.

@dataclass(frozen=True)
class _Compare:
    """``column op value``, always with the column on the left (chains are split into links)."""

    column: str
    op: str  # <, <=, >, >=, ==, !=, in, not in
    values: tuple  # one literal, or the list for in / not in
    positions: tuple[int, ...]  # where each value was typed, for messages


@dataclass(frozen=True)
class _Condition:
    parts: tuple[_Compare, ...]  # all must hold
    name: str  # tidy form, e.g. "40 <= age < 65"


@dataclass(frozen=True)
class _Not:
    operand: Any


@dataclass(frozen=True)
class _BoolOp:
    op: str  # "and" | "or"
    operands: tuple


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_ORDERING = {"<", "<=", ">", ">="}


def _describe(tok: _Token) -> str:
    return "the end of the expression" if tok.kind == "END" else repr(tok.text)


class _Parser:
    def __init__(self, text: str, tokens: list[_Token], columns: Sequence[str]):
        self.text, self.tokens, self.columns = text, tokens, list(columns)
        self.known = set(self.columns)
        self.i = 0
        self.depth = 0
        self.used: list[str] = []

    # -- helpers
    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> _Token:
        tok = self.peek()
        self.i += 1
        return tok

    def fail(self, tok: _Token, what: str, fix: str = _EXAMPLES) -> ConfigError:
        return _error(self.text, tok.pos, what, fix)

    def enter(self, tok: _Token) -> None:
        # Bounds recursion too, so deeply nested input can never hit Python's recursion limit.
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(tok, f"the expression is nested more than {MAX_DEPTH} levels deep",
                            "Simplify it: remove redundant parentheses and double negations.")

    # -- grammar
    def parse(self) -> Any:
        node = self.expression()
        tok = self.peek()
        if tok.kind != "END":
            what = "unmatched ')'" if tok.kind == "RPAREN" else f"unexpected {_describe(tok)}"
            raise self.fail(tok, what, "Join conditions with 'and' / 'or'. " + _EXAMPLES)
        return node

    def expression(self) -> Any:
        operands = [self.term()]
        while self.peek().kind == "OR":
            self.advance()
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else _BoolOp("or", tuple(operands))

    def term(self) -> Any:
        operands = [self.factor()]
        while self.peek().kind == "AND":
            self.advance()
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else _BoolOp("and", tuple(operands))

    def factor(self) -> Any:
        tok = self.peek()
        if tok.kind == "NOT":
            self.advance()
            self.enter(tok)
            node = _Not(self.factor())
            self.depth -= 1
            return node
        if tok.kind == "LPAREN":
            self.advance()
            self.enter(tok)
            node = self.expression()
            close = self.peek()
            if close.kind != "RPAREN":
                raise self.fail(close, f"expected ')' to close the '(' at character {tok.pos + 1}, "
                                f"found {_describe(close)}", "Check that every '(' has a matching ')'.")
            self.advance()
            self.depth -= 1
            return node
        return self.condition()

    def value(self) -> tuple[str, Any, _Token]:
        """One operand: ("column", name, token) or ("literal", value, token)."""
        tok = self.peek()
        if tok.kind in ("NAME", "COLUMN"):
            self.advance()
            self.check_column(tok)
            return "column", tok.value, tok
        if tok.kind in ("NUMBER", "STRING", "BOOL", "MINUS"):
            return "literal", self.literal(), tok
        if tok.kind == "LBRACK":
            raise self.fail(tok, "a list is only allowed after 'in'", "Write e.g. region in ['North', 'South'].")
        if tok.kind == "END":
            raise self.fail(tok, "the expression ends too early: expected a column or a value")
        raise self.fail(tok, f"expected a column or a value, found {_describe(tok)}")

    def literal(self) -> Any:
        tok = self.advance()
        if tok.kind == "MINUS":
            nxt = self.peek()
            if nxt.kind != "NUMBER":
                raise self.fail(tok, "'-' is only allowed in front of a number",
                                "Arithmetic is not supported; write negative numbers like -1.5.")
            self.advance()
            return -nxt.value
        if tok.kind == "STRING":
            return tok.value.strip()  # text is compared stripped of surrounding spaces
        if tok.kind in ("NUMBER", "BOOL"):
            return tok.value
        if tok.kind in ("NAME", "COLUMN"):
            hint = ("Lists and 'between' take values, not columns." if tok.value in self.known
                    else f"If {tok.value!r} is a value, put it in quotes: '{tok.value}'.")
            raise self.fail(tok, f"expected a value, found {tok.text!r}", hint)
        raise self.fail(tok, f"expected a value, found {_describe(tok)}",
                        "Values are numbers (65, -1.5), quoted text ('F') or True / False.")

    def check_column(self, tok: _Token) -> None:
        name = tok.value
        if name not in self.known:
            lower = name.lower()
            if lower in _MISSING_WORDS and tok.kind == "NAME":
                raise self.fail(tok, f"{tok.text!r} is not a column, and missing values cannot be tested directly",
                                "A comparison on a missing cell is false and 'not' of it is true, so e.g. "
                                "\"not (age > 0 or age <= 0)\" selects the people with no age recorded.")
            raise self.fail(tok, f"column {name!r} is not in the data", self.suggest_column(name, tok))
        if name not in self.used:
            self.used.append(name)

    def suggest_column(self, name: str, tok: _Token) -> str:
        close = difflib.get_close_matches(name, self.columns, n=1, cutoff=0.6)
        by_case = [c for c in self.columns if c.lower() == name.lower()]
        if by_case:
            close = by_case[:1]
        parts = []
        if close:
            parts.append(f"Did you mean {_render_column(close[0])}?"
                         if _render_column(close[0]) != close[0] else f"Did you mean '{close[0]}'?")
        else:
            shown = ", ".join(repr(c) for c in self.columns[:30])
            parts.append(f"Columns are: {shown}{' …' if len(self.columns) > 30 else ''}."
                         if self.columns else "The data has no columns.")
        prev = self.tokens[self.i - 2] if self.i >= 2 else None
        if prev is not None and prev.kind in ("CMP", "IN") and tok.kind == "NAME":
            parts.append(f"If {name!r} is a value rather than a column, put it in quotes: '{name}'.")
        parts.append("Column names are case-sensitive; names with spaces go in backticks, e.g. `monthly income`.")
        return " ".join(parts)

    def condition(self) -> _Condition:
        start = self.peek()
        first = self.value()
        tok = self.peek()
        if tok.kind == "IN" or (tok.kind == "NOT" and self.peek(1).kind == "IN"):
            return self.membership(first)
        if tok.kind == "BETWEEN":
            return self.between(first)
        if tok.kind != "CMP":
            if first[0] == "literal":
                raise self.fail(start, "a value on its own is not a condition",
                                "Compare a column with it, e.g. age > 65.")
            if tok.kind == "NAME" and any(c.startswith(f"{first[1]} {tok.value}") for c in self.columns):
                raise self.fail(start, f"{first[1]!r} is followed by {tok.text!r}",
                                "Put column names with spaces in backticks, e.g. `monthly income` > 1000.")
            if tok.kind == "MINUS":
                raise self.fail(tok, "arithmetic is not supported",
                                "Compare a column directly with a value, e.g. age > 65.")
            if tok.kind in ("END", "RPAREN", "AND", "OR"):
                raise self.fail(tok, f"column {first[1]!r} on its own is not a condition",
                                f"Compare it with a value, e.g. {_render_column(first[1])} == True "
                                f"or {_render_column(first[1])} > 0.")
            raise self.fail(tok, f"expected a comparison after {first[2].text!r}, found {_describe(tok)}",
                            "Use <, <=, >, >=, == or !=, 'in [...]' or 'between ... and ...'.")
        operands, ops = [first], []
        while self.peek().kind == "CMP":
            ops.append(self.advance())
            operands.append(self.value())
        parts = []
        for left, op, right in zip(operands, ops, operands[1:]):
            if left[0] == right[0] == "column":
                raise self.fail(op, f"{left[2].text} {op.value} {right[2].text} compares two columns",
                                "Compare a column with a value, e.g. age > 65.")
            if left[0] == right[0] == "literal":
                raise self.fail(op, f"{left[2].text} {op.value} {right[2].text} compares two values",
                                "Each comparison needs a column, e.g. 40 <= age < 65.")
            (_, column, _), (_, value, value_tok) = (left, right) if left[0] == "column" else (right, left)
            symbol = op.value if left[0] == "column" else _FLIP[op.value]
            if symbol in _ORDERING and (isinstance(value, (str, bool))):
                raise self.fail(value_tok, f"{op.value!r} needs a number, not {value_tok.text}",
                                "Only numeric columns can be compared with <, <=, > and >=; for text or "
                                "True/False columns use == or 'in [...]'.")
            parts.append(_Compare(column, symbol, (value,), (value_tok.pos,)))
        name = " ".join(
            [_render_operand(operands[0])]
            + [f"{op.value} {_render_operand(operand)}" for op, operand in zip(ops, operands[1:])]
        )
        return _Condition(tuple(parts), name)

    def membership(self, first: tuple[str, Any, _Token]) -> _Condition:
        op = "not in" if self.peek().kind == "NOT" else "in"
        self.advance()
        if op == "not in":
            self.advance()
        if first[0] != "column":
            raise self.fail(first[2], f"'{op}' needs a column on its left, found {first[2].text}",
                            "Write e.g. region in ['North', 'South'].")
        opener = self.peek()
        if opener.kind not in ("LBRACK", "LPAREN"):
            example = opener.text if opener.kind in ("NUMBER", "STRING", "BOOL") else "'North', 'South'"
            raise self.fail(opener, f"'{op}' must be followed by a list in [...], found {_describe(opener)}",
                            f"Put the values in brackets, even a single one: {_render_column(first[1])} {op} "
                            f"[{example}].")
        self.advance()
        closer = "RBRACK" if opener.kind == "LBRACK" else "RPAREN"
        values, positions = [], []
        while self.peek().kind != closer:
            if values:
                sep = self.peek()
                if sep.kind != "COMMA":
                    raise self.fail(sep, f"expected ',' or '{']' if closer == 'RBRACK' else ')'}' in the list, "
                                    f"found {_describe(sep)}", "Separate list values with commas.")
                self.advance()
                if self.peek().kind == closer:  # trailing comma
                    break
            positions.append(self.peek().pos)
            values.append(self.literal())
        if not values:
            raise self.fail(opener, "the list is empty", f"Put at least one value in it, e.g. {op} ['North'].")
        self.advance()
        if len({isinstance(v, str) for v in values}) > 1:
            raise self.fail(opener, "the list mixes quoted text and numbers / True / False",
                            "Use one kind of value: quoted text for a text column, numbers for a numeric one.")
        name = f"{_render_column(first[1])} {op} [{', '.join(repr(v) for v in values)}]"
        return _Condition((_Compare(first[1], op, tuple(values), tuple(positions)),), name)

    def between(self, first: tuple[str, Any, _Token]) -> _Condition:
        tok = self.advance()
        if first[0] != "column":
            raise self.fail(first[2], "'between' needs a column on its left", "Write e.g. age between 40 and 65.")
        bounds, positions = [], []
        for i in range(2):
            if i:
                word = self.peek()
                if word.kind != "AND":
                    raise self.fail(word, f"expected 'and' after the lower bound, found {_describe(word)}",
                                    "Write e.g. age between 40 and 65.")
                self.advance()
            positions.append(self.peek().pos)
            bound_tok = self.peek()
            bound = self.literal()
            if isinstance(bound, (str, bool)):
                raise self.fail(bound_tok, f"'between' needs numbers, found {bound_tok.text}",
                                "Write e.g. age between 40 and 65.")
            bounds.append(bound)
        if bounds[0] > bounds[1]:
            raise self.fail(tok, f"the lower bound {bounds[0]} is above the upper bound {bounds[1]}",
                            f"Write the smaller number first: between {bounds[1]} and {bounds[0]}.")
        column = first[1]
        parts = (_Compare(column, ">=", (bounds[0],), (positions[0],)),
                 _Compare(column, "<=", (bounds[1],), (positions[1],)))
        return _Condition(parts, f"{_render_column(column)} between {bounds[0]!r} and {bounds[1]!r}")


# ---------------------------------------------------------------------------------------------
# Rendering: the tidy name and the equivalent DataFrame.query string

_RESERVED = set(_KEYWORDS) | _MISSING_WORDS


def _render_column(name: str) -> str:
    """Bare when it would read back as the same column, otherwise in backticks."""
    bare = (_IDENT.fullmatch(name) and name.lower() not in _RESERVED and not keyword.iskeyword(name)
            and not name.startswith("__"))
    return name if bare else f"`{name}`"


def _render_operand(operand: tuple[str, Any, _Token]) -> str:
    kind, value, _ = operand
    return _render_column(value) if kind == "column" else repr(value)


_PRECEDENCE = {"or": 1, "and": 2}


def _render_name(node: Any) -> str:
    if isinstance(node, _Condition):
        return node.name
    if isinstance(node, _Not):
        inner = _render_name(node.operand)
        return f"not {inner}" if isinstance(node.operand, _Not) else f"not ({inner})"
    parts = []
    for operand in node.operands:
        text = _render_name(operand)
        if isinstance(operand, _BoolOp) and _PRECEDENCE[operand.op] < _PRECEDENCE[node.op]:
            text = f"({text})"
        parts.append(text)
    return f" {node.op} ".join(parts)


def _query_compare(part: _Compare, negated: bool) -> str:
    column = f"`{part.column}`"
    text = isinstance(part.values[0], str)
    # Same conversion as the mask: text compared as stripped strings (missing stays missing).
    subject = f"{column}.astype('string').str.strip()" if text else column
    if part.op in ("in", "not in"):
        core = f"{subject} {part.op} [{', '.join(repr(v) for v in part.values)}]"
    else:
        core = f"{subject} {part.op} {part.values[0]!r}"
    # Missing cells must give False. pandas already does that for plain comparisons on numpy
    # columns, but '!=' and 'not in' are True there, and nullable columns give <NA>, which '~'
    # keeps as <NA> (not selected) instead of turning into True. '.notna() &' pins it to False.
    if part.op in ("!=", "not in") or negated:
        return f"({column}.notna() & ({core}))"
    return f"({core})"


def _render_query(node: Any, negated: bool = False) -> str:
    """Every piece comes back parenthesised, so '&', '|' and '~' never meet pandas' precedence."""
    if isinstance(node, _Condition):
        parts = [_query_compare(p, negated) for p in node.parts]
        return parts[0] if len(parts) == 1 else f"({' & '.join(parts)})"
    if isinstance(node, _Not):
        return f"~{_render_query(node.operand, True)}"
    joiner = " & " if node.op == "and" else " | "
    return f"({joiner.join(_render_query(o, negated) for o in node.operands)})"


def _strip_outer(query: str) -> str:
    """Drop one pair of parentheses wrapping the whole query, for readability."""
    if not (query.startswith("(") and query.endswith(")")):
        return query
    depth, quote = 0, None
    i = 0
    while i < len(query):
        ch = query[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0 and i < len(query) - 1:
                return query  # the first '(' closes before the end: not an outer pair
        i += 1
    return query[1:-1]


# ---------------------------------------------------------------------------------------------
# Public interface

@dataclass(frozen=True)
class SubgroupExpression:
    """A parsed subgroup expression.

    Attributes
    ----------
    text : str
        The expression as typed.
    name : str
        Tidy readable form, e.g. ``age > 65`` or ``not (sex == 'F')``; parses to the same subgroup.
    query : str
        An equivalent :meth:`pandas.DataFrame.query` string (backticked column names, ``repr`` of
        values): ``frame.query(query)`` selects the rows where :func:`evaluate_subgroup` is True.
        Provided for reproducibility outside this tool; it is never evaluated here.
    columns : tuple of str
        The columns referenced, in order of first use.
    """

    text: str
    name: str
    query: str
    columns: tuple[str, ...]


def _parse(text: Any, columns: Sequence[str]) -> tuple[Any, list[str]]:
    if not isinstance(text, str):
        raise ConfigError(f"Subgroup expression must be text, got {type(text).__name__}. {_EXAMPLES}")
    if len(text) > MAX_LENGTH:
        raise ConfigError(
            f"Subgroup expression is {len(text)} characters long (starting {text[:40]!r}); the limit is "
            f"{MAX_LENGTH}. Split it into simpler subgroups, or add a column that marks the group in the data."
        )
    if not text.strip():
        raise ConfigError(f"Subgroup expression is empty. {_EXAMPLES}")
    parser = _Parser(text, _tokenize(text), [str(c) for c in columns])
    return parser.parse(), parser.used


def parse_subgroup(text: str, columns: Sequence[str]) -> SubgroupExpression:
    """Parse a subgroup expression typed by an analyst, without evaluating it.

    Only the syntax and the column names are checked here; value types and text levels need the
    data and are checked by :func:`evaluate_subgroup`.

    Parameters
    ----------
    text : str
        The expression, e.g. ``"age > 65"``, ``"40 <= age < 65 and sex == 'F'"`` or
        ``"`monthly income` > 1000"``. At most 500 characters.
    columns : sequence of str
        The column names of the data.

    Returns
    -------
    SubgroupExpression
        The expression with its tidy name, an equivalent pandas query string and the columns used.

    Raises
    ------
    ConfigError
        If the text is not a valid expression (including anything resembling code: calls,
        attribute access, subscripts, arithmetic, ``;``), is nested more than 20 levels deep,
        or names a column that is not in ``columns`` (with a "did you mean" suggestion).
    """
    tree, used = _parse(text, columns)
    return SubgroupExpression(text=text, name=_render_name(tree), query=_strip_outer(_render_query(tree)),
                              columns=tuple(used))


def evaluate_subgroup(expr: SubgroupExpression, frame: pd.DataFrame) -> np.ndarray:
    """Which rows of ``frame`` belong to the subgroup.

    The expression is read again from ``expr.text`` (cheap), so the mask always follows the text
    and a hand-built ``SubgroupExpression`` cannot carry a different meaning.

    Parameters
    ----------
    expr : SubgroupExpression
        From :func:`parse_subgroup`.
    frame : pandas.DataFrame
        The data; must contain every column in ``expr.columns``.

    Returns
    -------
    numpy.ndarray
        Boolean mask of length ``len(frame)``. A comparison on a missing cell is False (also for
        ``!=`` and ``not in``); ``not`` negates the mask, so it is True there.

    Raises
    ------
    ConfigError
        If a column is missing from ``frame``, a value has the wrong type for its column (text
        against a numeric column, a number against a text column, ``<`` on text), or quoted text
        is not one of the column's values (the message lists the known values and the closest).
    """
    labels: dict[str, Any] = {}
    for label in frame.columns:
        labels.setdefault(str(label), label)
    tree, _ = _parse(expr.text, list(labels))
    columns: dict[str, _Column] = {}

    def column(name: str) -> _Column:
        if name not in columns:
            series = frame[labels[name]]
            if isinstance(series, pd.DataFrame):
                raise ConfigError(f"Column '{name}' appears more than once in the data, so subgroup "
                                  f"'{expr.text}' is ambiguous. Rename the duplicate columns.")
            columns[name] = _Column(name, series)
        return columns[name]

    def mask(node: Any) -> np.ndarray:
        if isinstance(node, _Condition):
            out = np.ones(len(frame), dtype=bool)
            for part in node.parts:
                out &= column(part.column).compare(part, expr.text)
            return out
        if isinstance(node, _Not):
            return ~mask(node.operand)
        masks = [mask(o) for o in node.operands]
        return np.logical_and.reduce(masks) if node.op == "and" else np.logical_or.reduce(masks)

    return np.asarray(mask(tree), dtype=bool)


# ---------------------------------------------------------------------------------------------
# Column comparisons with numpy

class _Column:
    """One column prepared once per evaluation: its kind, and values numpy can compare."""

    def __init__(self, name: str, series: pd.Series):
        self.name = name
        dtype = series.dtype
        self.present = series.notna().to_numpy(dtype=bool)
        if pd.api.types.is_bool_dtype(dtype) or (
            pd.api.types.is_object_dtype(dtype) and pd.api.types.infer_dtype(series, skipna=True) == "boolean"
        ):
            # Spreadsheets with blanks give object columns of True/False/NaN: still True/False.
            self.kind = "bool"
            self.values = series.astype("boolean").fillna(False).to_numpy(dtype=bool)
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_complex_dtype(dtype):
            self.kind = "number"
            self.values = series.to_numpy(dtype=float, na_value=np.nan)
        elif (pd.api.types.is_object_dtype(dtype) or pd.api.types.is_string_dtype(dtype)
              or isinstance(dtype, pd.CategoricalDtype)):
            self.kind = "text"
            text = series.astype("string").str.strip()
            self.present = text.notna().to_numpy(dtype=bool)
            self.values = text
            self.levels = sorted(set(text.dropna()))
        else:
            self.kind = str(dtype)

    def compare(self, part: _Compare, text: str) -> np.ndarray:
        values = [self.check(value, pos, part.op, text) for value, pos in zip(part.values, part.positions)]
        # '!=' and 'not in' are computed as the negation of '==' / 'in' *before* masking with
        # `present`, so that a missing cell is False for them too.
        positive = _POSITIVE.get(part.op, part.op)
        if positive in ("==", "in"):
            if self.kind == "text":
                hit = self.values.isin(values).fillna(False).to_numpy(dtype=bool)
            else:
                hit = np.isin(self.values, values)
        else:
            with np.errstate(invalid="ignore"):  # NaN compares False; `present` masks it anyway
                hit = _ORDER_OPS[positive](self.values, values[0])
        if positive != part.op:
            hit = ~hit
        return self.present & hit

    def check(self, value: Any, pos: int, op: str, text: str) -> Any:
        """The literal converted for this column, or a ConfigError saying why it does not fit."""
        col = _render_column(self.name)
        if self.kind == "number":
            if isinstance(value, str):
                raise _data_error(text, pos, f"column {self.name!r} holds numbers but {value!r} is quoted text",
                                  f"Write the number without quotes, e.g. {col} > 65.")
            return float(value)
        if self.kind == "bool":
            if op in _ORDERING:
                raise _data_error(text, pos, f"column {self.name!r} holds True/False and cannot be ordered "
                                  f"with {op!r}", f"Use == or !=, e.g. {col} == True.")
            if isinstance(value, str) or value not in (0, 1):
                raise _data_error(text, pos, f"column {self.name!r} holds True/False, not {value!r}",
                                  f"Compare it with True or False (or 1 / 0), e.g. {col} == True.")
            return bool(value)
        if self.kind == "text":
            if not isinstance(value, str):
                fix = (f"Put the value in quotes, e.g. {col} == '{value!r}'." if op not in _ORDERING else
                       f"Only numeric columns can be compared with {op!r}; for text use == or 'in [...]'. "
                       "If the column should be numeric, fix its non-numeric cells in the data.")
                raise _data_error(text, pos, f"column {self.name!r} holds text but {value!r} is not quoted", fix)
            if self.levels and value not in self.levels:
                raise _data_error(text, pos, f"{value!r} is not a value of column {self.name!r}",
                                  _suggest_level(value, self.levels))
            return value
        raise _data_error(text, pos, f"column {self.name!r} has type {self.kind}, which subgroups cannot compare",
                          "Use a numeric, True/False or text column (e.g. add a column derived from this one).")


_POSITIVE = {"!=": "==", "not in": "in"}
_ORDER_OPS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}


def _data_error(text: str, pos: int, what: str, fix: str) -> ConfigError:
    return _error(text, pos, what, fix, headline="does not fit the data")


def _suggest_level(value: str, levels: list[str]) -> str:
    by_case = [lvl for lvl in levels if lvl.lower() == value.lower()]
    close = by_case[:1] or difflib.get_close_matches(value, levels, n=1, cutoff=0.5)
    shown = ", ".join(repr(lvl) for lvl in levels[:20])
    more = f" and {len(levels) - 20} more" if len(levels) > 20 else ""
    hint = f"Did you mean {close[0]!r}? " if close else ""
    return f"{hint}Known values are: {shown}{more} (compared case-sensitively, ignoring surrounding spaces)."
