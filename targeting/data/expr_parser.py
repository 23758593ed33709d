"""The parser of subgroup expressions: tokens to a small syntax tree, and the tree's tidy name.

A recursive-descent parser for the grammar in :mod:`targeting.data.expr`. Column names are
checked here (with a "did you mean"); value types need the data and are checked when the
expression is evaluated.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from targeting.data.expr_tokens import (EXAMPLES, IDENT, KEYWORDS, MISSING_WORDS, Token, expression_error,
                                        tokenize)
from targeting.errors import ConfigError, did_you_mean

MAX_LENGTH = 500  # characters
MAX_DEPTH = 20  # nesting of parentheses and 'not'

# ---------------------------------------------------------------------------------------------
# Syntax tree: conditions combined with not / and / or. Small on purpose.

@dataclass(frozen=True)
class Compare:
    """``column op value``, always with the column on the left (chains are split into links)."""

    column: str
    op: str  # <, <=, >, >=, ==, !=, in, not in
    values: tuple  # one literal, or the list for in / not in
    positions: tuple[int, ...]  # where each value was typed, for messages


@dataclass(frozen=True)
class Condition:
    parts: tuple[Compare, ...]  # all must hold
    name: str  # tidy form, e.g. "40 <= age < 65"


@dataclass(frozen=True)
class Not:
    operand: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple


_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
ORDERING = {"<", "<=", ">", ">="}


def _describe(tok: Token) -> str:
    return "the end of the expression" if tok.kind == "END" else repr(tok.text)


class _Parser:
    def __init__(self, text: str, tokens: list[Token], columns: Sequence[str]):
        self.text, self.tokens, self.columns = text, tokens, list(columns)
        self.known = set(self.columns)
        self.i = 0
        self.depth = 0
        self.used: list[str] = []

    # -- helpers
    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.i + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.peek()
        self.i += 1
        return tok

    def fail(self, tok: Token, what: str, fix: str = EXAMPLES) -> ConfigError:
        return expression_error(self.text, tok.pos, what, fix)

    def enter(self, tok: Token) -> None:
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
            raise self.fail(tok, what, "Join conditions with 'and' / 'or'. " + EXAMPLES)
        return node

    def expression(self) -> Any:
        return self.joined("or", self.term)

    def term(self) -> Any:
        return self.joined("and", self.factor)

    def joined(self, op: str, operand: Callable[[], Any]) -> Any:
        """``operand (op operand)*``: one operand, or a BoolOp of them all."""
        operands = [operand()]
        while self.peek().kind == op.upper():
            self.advance()
            operands.append(operand())
        return operands[0] if len(operands) == 1 else BoolOp(op, tuple(operands))

    def factor(self) -> Any:
        tok = self.peek()
        if tok.kind == "NOT":
            self.advance()
            self.enter(tok)
            node = Not(self.factor())
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

    def value(self) -> tuple[str, Any, Token]:
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

    def check_column(self, tok: Token) -> None:
        name = tok.value
        if name not in self.known:
            lower = name.lower()
            if lower in MISSING_WORDS and tok.kind == "NAME":
                raise self.fail(tok, f"{tok.text!r} is not a column, and missing values cannot be tested directly",
                                "A comparison on a missing cell is false and 'not' of it is true, so e.g. "
                                "\"not (age > 0 or age <= 0)\" selects the people with no age recorded.")
            raise self.fail(tok, f"column {name!r} is not in the data", self.suggest_column(name, tok))
        if name not in self.used:
            self.used.append(name)

    def suggest_column(self, name: str, tok: Token) -> str:
        close = did_you_mean(name, self.columns, cutoff=0.6)
        parts = []
        if close:
            parts.append(f"Did you mean {render_column(close)}?"
                         if render_column(close) != close else f"Did you mean '{close}'?")
        else:
            shown = ", ".join(repr(c) for c in self.columns[:30])
            parts.append(f"Columns are: {shown}{' …' if len(self.columns) > 30 else ''}."
                         if self.columns else "The data has no columns.")
        prev = self.tokens[self.i - 2] if self.i >= 2 else None
        if prev is not None and prev.kind in ("CMP", "IN") and tok.kind == "NAME":
            parts.append(f"If {name!r} is a value rather than a column, put it in quotes: '{name}'.")
        parts.append("Column names are case-sensitive; names with spaces go in backticks, e.g. `monthly income`.")
        return " ".join(parts)

    def condition(self) -> Condition:
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
                                f"Compare it with a value, e.g. {render_column(first[1])} == True "
                                f"or {render_column(first[1])} > 0.")
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
            if symbol in ORDERING and (isinstance(value, (str, bool))):
                raise self.fail(value_tok, f"{op.value!r} needs a number, not {value_tok.text}",
                                "Only numeric columns can be compared with <, <=, > and >=; for text or "
                                "True/False columns use == or 'in [...]'.")
            parts.append(Compare(column, symbol, (value,), (value_tok.pos,)))
        name = " ".join(
            [_render_operand(operands[0])]
            + [f"{op.value} {_render_operand(operand)}" for op, operand in zip(ops, operands[1:])]
        )
        return Condition(tuple(parts), name)

    def membership(self, first: tuple[str, Any, Token]) -> Condition:
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
                            f"Put the values in brackets, even a single one: {render_column(first[1])} {op} "
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
        name = f"{render_column(first[1])} {op} [{', '.join(repr(v) for v in values)}]"
        return Condition((Compare(first[1], op, tuple(values), tuple(positions)),), name)

    def between(self, first: tuple[str, Any, Token]) -> Condition:
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
        parts = (Compare(column, ">=", (bounds[0],), (positions[0],)),
                 Compare(column, "<=", (bounds[1],), (positions[1],)))
        return Condition(parts, f"{render_column(column)} between {bounds[0]!r} and {bounds[1]!r}")


# ---------------------------------------------------------------------------------------------
# Rendering: the tidy name (the query string is written in targeting.data.expr)

_RESERVED = set(KEYWORDS) | MISSING_WORDS


def render_column(name: str) -> str:
    """Bare when it would read back as the same column, otherwise in backticks."""
    bare = (IDENT.fullmatch(name) and name.lower() not in _RESERVED and not keyword.iskeyword(name)
            and not name.startswith("__"))
    return name if bare else f"`{name}`"


def _render_operand(operand: tuple[str, Any, Token]) -> str:
    kind, value, _ = operand
    return render_column(value) if kind == "column" else repr(value)


_PRECEDENCE = {"or": 1, "and": 2}


def render_name(node: Any) -> str:
    """The tidy readable form of a syntax tree, e.g. ``not (sex == 'F') and age > 65``."""
    if isinstance(node, Condition):
        return node.name
    if isinstance(node, Not):
        inner = render_name(node.operand)
        return f"not {inner}" if isinstance(node.operand, Not) else f"not ({inner})"
    parts = []
    for operand in node.operands:
        text = render_name(operand)
        if isinstance(operand, BoolOp) and _PRECEDENCE[operand.op] < _PRECEDENCE[node.op]:
            text = f"({text})"
        parts.append(text)
    return f" {node.op} ".join(parts)


def parse(text: Any, columns: Sequence[str]) -> tuple[Any, list[str]]:
    """Parse an expression against the given column names.

    Parameters
    ----------
    text : str
        The expression as typed (anything else is refused).
    columns : sequence of str
        The column names of the data.

    Returns
    -------
    tree : Condition, Not or BoolOp
        The syntax tree.
    used : list of str
        The columns referenced, in order of first use.

    Raises
    ------
    ConfigError
        For text that is too long, empty or outside the grammar, or names an unknown column.
    """
    if not isinstance(text, str):
        raise ConfigError(f"Subgroup expression must be text, got {type(text).__name__}. {EXAMPLES}")
    if len(text) > MAX_LENGTH:
        raise ConfigError(
            f"Subgroup expression is {len(text)} characters long (starting {text[:40]!r}); the limit is "
            f"{MAX_LENGTH}. Split it into simpler subgroups, or add a column that marks the group in the data."
        )
    if not text.strip():
        raise ConfigError(f"Subgroup expression is empty. {EXAMPLES}")
    parser = _Parser(text, tokenize(text), [str(c) for c in columns])
    return parser.parse(), parser.used

