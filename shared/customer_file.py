"""What a customer list says: its columns, each row as a customer to register, why a row is bad,
and which rows are likely the same customer. Pure (no network, no database).

Shared by ``kehu import customers`` (``kehu.customer_import``) and the console's import page,
so a preview in the console and a dry run on the command line say the same thing about a file.

**Columns.** A header cell names a field by its English name (``name``, ``phone``, ...: the keys
of ``SYNONYMS``; case, blanks, ``-`` and ``_`` do not matter) or by a Chinese or English synonym
(姓名, 手机, 邮箱, 会员卡号, 负责人 ...). ``mapping`` (``--map 'Column A=phone,客户名=name'``)
overrides: a header cell named there takes that field; ``Column=-`` leaves a column out. Columns
naming no field are left out and listed (``Parsed.ignored``). Only ``name`` is required.

**Identity of a row** (``CustomerRow.key``), what makes re-running an import create nothing new:
its ``external_ref`` when the file gives one, else ``import:`` and the first 32 hex digits of the
SHA-256 of its name (NFKC, case-folded, blanks collapsed), phone (E.164) and email (lower-case),
which is stored as the customer's ``external_ref``. So the same person in the same file, or in a
file saved again with other columns or another order of rows, is found again; a row whose name,
phone or email was corrected becomes a new customer (give such files an ``external_ref``).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from dataclasses import field as _field
from datetime import date, datetime, time
from typing import Any, get_args
from zoneinfo import ZoneInfo

import phonenumbers

from shared.events import LeadSource
from shared.sheet import FileProblem, Table

MAX_NAME = 200
MAX_REF = 100
MAX_OWNER = 64
MAX_CHANNEL = 32
MAX_DETAIL = 200
MAX_ADDRESS = 500
MAX_NOTES = 4000
MAX_TAGS = 20
MAX_TAG = 32
MAX_IDENTITY = 200

KEY_PREFIX = "import:"
CATEGORIES = ("potential", "prospective", "current", "lost")
LEAD_SOURCES: tuple[str, ...] = get_args(LeadSource)
# Extra channel identities a file may carry, by column: (identity kind, label). ``wechat`` is the
# WeChat ID people write down (微信号), not the open id a mini-program knows: kind ``other``.
IDENTITY_COLUMNS: dict[str, tuple[str, str | None]] = {
    "wechat": ("other", "WeChat"),
    "wechat_openid": ("wechat_openid", None),
    "wechat_unionid": ("wechat_unionid", None),
    "membership_card": ("membership_card", None),
    "web_account": ("web_account", None),
}

# Field → the header cells that name it (besides the field's own name).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("姓名", "名称", "名字", "客户", "客户名", "客户名称", "客户姓名", "公司", "公司名称", "单位名称", "full name"),
    "kind": ("类型", "客户类型", "个人/公司", "type"),
    "phone": ("电话", "手机", "手机号", "手机号码", "电话号码", "联系电话", "联系方式", "mobile", "tel", "telephone",
              "phone number", "cell"),
    "email": ("邮箱", "电子邮件", "电子邮箱", "邮件", "e-mail", "mail", "email address"),
    "external_ref": ("编号", "客户编号", "客户号", "外部编号", "ref", "reference", "customer_ref", "id", "客户id"),
    "category": ("分类", "客户分类", "类别", "客户类别", "客户状态"),
    "lead_source": ("来源", "客户来源", "线索来源", "获客渠道", "source"),
    "lead_source_detail": ("来源说明", "来源详情", "来源备注", "source detail"),
    "channel": ("渠道", "首次渠道", "接触渠道"),
    "owner": ("负责人", "跟进人", "业务员", "销售", "销售员", "归属", "所属销售", "客户经理"),
    "tags": ("标签", "tag"),
    "address": ("地址", "联系地址", "通讯地址", "所在地"),
    "notes": ("备注", "说明", "note", "remarks", "comment"),
    "wechat": ("微信", "微信号", "weixin", "wechat id"),
    "wechat_openid": ("openid", "微信openid"),
    "wechat_unionid": ("unionid", "微信unionid"),
    "membership_card": ("会员卡号", "会员卡", "会员号", "卡号", "card", "card number", "membership"),
    "web_account": ("网店账号", "网站账号", "账号"),
    "registered_at": ("注册时间", "注册日期", "建档时间", "建档日期", "登记日期", "创建时间", "first seen", "since"),
}
FIELDS: tuple[str, ...] = tuple(SYNONYMS)
SKIP = "-"

# Values of the fields with a fixed set of values, as shops write them.
KINDS = {"person": "person", "个人": "person", "人": "person", "company": "company", "公司": "company",
         "企业": "company", "单位": "company", "机构": "company"}
CATEGORY_WORDS = {"潜在": "potential", "潜在客户": "potential", "意向": "prospective", "意向客户": "prospective",
                  "准客户": "prospective", "成交": "current", "成交客户": "current", "现有": "current",
                  "现有客户": "current", "老客户": "current", "流失": "lost", "流失客户": "lost"}
LEAD_SOURCE_WORDS = {"网站": "web", "网络": "web", "官网": "web", "展会": "fair", "会议": "fair", "展会/会议": "fair",
                     "转介绍": "referral", "介绍": "referral", "推荐": "referral", "老客户介绍": "referral",
                     "人脉": "relationship", "关系": "relationship", "熟人": "relationship", "名录": "directory",
                     "黄页": "directory", "广告": "advertising", "到店": "walk_in", "进店": "walk_in",
                     "自然到店": "walk_in", "walk-in": "walk_in", "其他": "other", "其它": "other"}

_EMAIL = re.compile(r"^[^@\s\u0000]+@[^@\s\u0000]+\.[^@\s\u0000]+$")
_CHANNEL = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_DATE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")
_TAG_SPLIT = re.compile(r"[,，、;；|]")
_BLANKS = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _header_key(text: str) -> str:
    return re.sub(r"[\s_\-]+", "", unicodedata.normalize("NFKC", text).strip().lstrip("\ufeff").casefold())


_BY_HEADER: dict[str, str] = {
    _header_key(word): name for name, words in SYNONYMS.items() for word in (name, *words)}


# --- the columns --------------------------------------------------------------------------------


def parse_mapping(text: str) -> dict[str, str]:
    """``'Column A=phone,客户名=name,Unused=-'`` → ``{header cell: field}``; refuses unknown fields."""
    mapping: dict[str, str] = {}
    for part in (p for p in re.split(r"[,，]", text) if p.strip()):
        column, sep, target = part.rpartition("=")
        column, target = column.strip(), target.strip().lower()
        if not sep or not column:
            raise FileProblem(f"--map {part.strip()!r}: write COLUMN=FIELD (e.g. '客户名=name')")
        if target != SKIP and target not in FIELDS:
            raise FileProblem(f"--map {part.strip()!r}: unknown field {target!r} (one of {', '.join(FIELDS)}, "
                              f"or - to leave the column out)")
        mapping[column] = target
    return mapping


@dataclass(frozen=True)
class Columns:
    by_index: dict[int, str]  # column → field
    ignored: list[str]  # header cells that name no field


def map_columns(header: Sequence[str], mapping: Mapping[str, str] | None = None) -> Columns:
    given = {_header_key(k): v for k, v in (mapping or {}).items()}
    by_index: dict[int, str] = {}
    ignored: list[str] = []
    taken: dict[str, str] = {}
    for index, cell in enumerate(header):
        key = _header_key(cell)
        target = given.pop(key) if key in given else _BY_HEADER.get(key)
        if target == SKIP or (target is None and not key):
            continue
        if target is None:
            ignored.append(cell.strip())
            continue
        if target in taken:
            raise FileProblem(f"columns {taken[target]!r} and {cell.strip()!r} both give {target}; "
                              f"leave one out with --map '{cell.strip()}=-'")
        taken[target] = cell.strip()
        by_index[index] = target
    if given:
        raise FileProblem(f"--map names column(s) the header does not have: {', '.join(map(repr, given))} "
                          f"(the header: {', '.join(c.strip() for c in header)})")
    if "name" not in taken:
        raise FileProblem(f"no column gives the name (the header: {', '.join(c.strip() for c in header)}); "
                          "call it name or 姓名/名称, or map it: --map '客户名=name'")
    return Columns(by_index, ignored)


# --- the rows -----------------------------------------------------------------------------------


class RowProblem(ValueError):
    """Why a cell cannot be what its column needs. ``str()`` is the English text (the command's);
    ``message`` the same with ``%(name)s`` placeholders and ``values`` what fills them, so the
    console can say it in the person's language (console/pages/import_words.py lists every one)."""

    def __init__(self, message: str, **values: object) -> None:
        super().__init__(message % values if values else message)
        self.message, self.values = message, values


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    field: str
    reason: str
    message: str = _field(default="", compare=False)
    """``reason`` with placeholders (a ``RowProblem``'s), to translate; empty when there is none."""
    values: Mapping[str, object] = _field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, line: int, name: str, problem: ValueError) -> BadRow:
        if isinstance(problem, RowProblem):
            return cls(line, name, str(problem), problem.message, problem.values)
        return cls(line, name, str(problem))

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


@dataclass(frozen=True, slots=True)
class CustomerRow:
    line: int
    key: str  # the external_ref the customer is registered with (see the module doc)
    customer: dict[str, Any]  # the body of one customer of POST /customers/batch
    identities: tuple[tuple[str, str, str | None], ...] = ()  # extra (kind, value, label) to link


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row that is likely a customer already named elsewhere: by other rows of the file (``lines``),
    or by a customer in contacts (``customer``: its id and name). ``shared``: what they have in
    common (``phone +8613800138000``, ``email a@b.cn``, ...)."""

    line: int
    shared: tuple[str, ...]
    lines: tuple[int, ...] = ()
    customer: Mapping[str, Any] | None = None

    def __str__(self) -> str:
        what = ", ".join(self.shared)
        if self.customer is not None:
            return f"line {self.line}: {what} already belongs to {self.customer.get('name')!r} ({self.customer.get('id')})"
        return f"line {self.line}: {what} also on line {', '.join(map(str, self.lines))}"


@dataclass
class Parsed:
    rows: list[CustomerRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    read: int = 0
    encoding: str | None = None

    @property
    def bad_lines(self) -> int:
        return len({b.line for b in self.bad})


def import_key(name: str, phone: str | None, email: str | None) -> str:
    """The external_ref of a row that gives none (see the module doc)."""
    text = "\x1f".join([_BLANKS.sub(" ", unicodedata.normalize("NFKC", name)).strip().casefold(),
                        phone or "", (email or "").lower()])
    return KEY_PREFIX + hashlib.sha256(text.encode()).hexdigest()[:32]


_MAINLAND_MOBILE = re.compile(r"^(?:\+86|0086)?(1\d{10})$")
_MOBILE_SPACING = re.compile(r"[\s\-().]")
_mobile_prefix_valid: dict[str, bool] = {}


def normal_phone(text: str, region: str) -> str:
    """E.164, as contacts stores it; ValueError saying why not.

    Mainland mobiles (nearly every phone of a Chinese shop's list) take a short cut: whether an
    11-digit mobile is valid depends on its first digits (the carrier's range), so libphonenumber
    is asked once per 5-digit prefix rather than once per row (it costs ~0.2 ms a number)."""
    compact = _MOBILE_SPACING.sub("", text)
    mobile = _MAINLAND_MOBILE.match(compact)
    if mobile and (region == "CN" or compact.startswith(("+86", "0086"))):
        prefix = mobile[1][:5]
        valid = _mobile_prefix_valid.get(prefix)
        if valid is None:
            try:
                valid = _mobile_prefix_valid[prefix] = _parsed_phone(text, region) == "+86" + mobile[1]
            except ValueError:
                valid = _mobile_prefix_valid[prefix] = False
        if valid:
            return "+86" + mobile[1]
    return _parsed_phone(text, region)


def _parsed_phone(text: str, region: str) -> str:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise RowProblem("%(value)s is not a phone number (%(why)s)", value=repr(text), why=str(exc)) from None
    if not phonenumbers.is_valid_number(number):
        if text.lstrip().startswith(("+", "00")):
            raise RowProblem("%(value)s is not a valid phone number", value=repr(text))
        raise RowProblem("%(value)s is not a valid phone number (read as a number in %(region)s)", value=repr(text),
                         region=region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normal_identity(kind: str, value: str) -> str:
    """The form contacts compares an identity in (card numbers: upper-case without blanks)."""
    if kind in ("membership_card", "fair_badge"):
        return _BLANKS.sub("", value).upper()
    if kind in ("email", "web_account"):
        return value.lower()
    return value


def _choice(text: str, words: Mapping[str, str], allowed: Sequence[str], what: str) -> str:
    key = text.strip().lower()
    if key in allowed:
        return key
    found = words.get(text.strip()) or words.get(key)
    if found is None:
        examples = "/".join(list(dict.fromkeys(w for w in words if not w.isascii()))[:4])
        raise RowProblem(_UNKNOWN[what], value=repr(text), allowed=", ".join(allowed), examples=examples)
    return found


_UNKNOWN = {
    "kind": "unknown kind %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)",
    "category": "unknown category %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)",
    "lead source": "unknown lead source %(value)s (one of %(allowed)s; or in Chinese, e.g. %(examples)s)",
}


def parse_registered_at(text: str, zone: ZoneInfo) -> datetime:
    """A date (2024-03-01, 2024/3/1, 20240301, 2024年3月1日: the start of that day in ``zone``) or a
    time with or without an offset (without: in ``zone``)."""
    day = _DATE.match(text)
    if day:
        try:
            return datetime.combine(date(int(day[1]), int(day[2]), int(day[3])), time.min, zone)
        except ValueError as exc:
            raise RowProblem("%(value)s is not a date (%(why)s)", value=repr(text), why=str(exc)) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise RowProblem("%(value)s is not a date (2024-03-01) or a time (2024-03-01T10:00:00+08:00)",
                         value=repr(text)) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)


_LONGEST = {"name": MAX_NAME, "external_ref": MAX_REF, "lead_source_detail": MAX_DETAIL, "owner": MAX_OWNER,
            "address": MAX_ADDRESS, "notes": MAX_NOTES}


class _RowReader:
    """Turns one row's cells into a customer, or every reason it cannot be one. Each mapped column
    has its check, looked up once for the file (a list of 100,000 rows is read in seconds)."""

    def __init__(self, columns: Columns, region: str, zone: ZoneInfo, now: datetime) -> None:
        self.region, self.zone, self.now = region, zone, now
        checks = {"kind": self._kind, "phone": self._phone, "email": self._email, "category": self._category,
                  "lead_source": self._lead_source, "channel": self._channel, "tags": self._tags,
                  "registered_at": self._registered_at}
        # In the order of FIELDS, so a row's problems are listed in one order whatever the columns'.
        self.columns = sorted(((FIELDS.index(name), index, name, checks.get(name))
                               for index, name in columns.by_index.items()))

    def read(self, line: int, cells: Sequence[str]) -> tuple[CustomerRow | None, list[BadRow]]:
        problems: list[BadRow] = []
        customer: dict[str, Any] = {}
        identities: list[tuple[str, str, str | None]] = []
        width = len(cells)
        for _, index, name, check in self.columns:
            text = cells[index].strip() if index < width else ""
            if text and _CONTROL.search(text):
                text = _CONTROL.sub("", text).strip()
            if not text:
                continue
            try:
                if name in IDENTITY_COLUMNS:
                    if len(text) > MAX_IDENTITY:
                        raise RowProblem("longer than %(max)s characters", max=MAX_IDENTITY)
                    kind, label = IDENTITY_COLUMNS[name]
                    identities.append((kind, text, label))
                elif check is not None:
                    customer[name] = check(text)
                elif len(text) > _LONGEST[name]:
                    raise RowProblem("longer than %(max)s characters (%(length)s)", max=_LONGEST[name],
                                     length=len(text))
                else:
                    customer[name] = text
            except ValueError as exc:
                problems.append(BadRow.of(line, name, exc))
        if "name" not in customer and not any(p.field == "name" for p in problems):
            problems.insert(0, BadRow.of(line, "name", RowProblem("is empty")))
        if problems:
            return None, problems
        key = customer.get("external_ref") or import_key(customer["name"], customer.get("phone"), customer.get("email"))
        customer["external_ref"] = key
        return CustomerRow(line, key, customer, tuple(identities)), []

    def _kind(self, text: str) -> str:
        return _choice(text, KINDS, ("person", "company"), "kind")

    def _phone(self, text: str) -> str:
        return normal_phone(text, self.region)

    def _email(self, text: str) -> str:
        if len(text) > 254 or not _EMAIL.match(text):
            raise RowProblem("%(value)s is not an email address", value=repr(text))
        return text.lower()

    def _category(self, text: str) -> str:
        return _choice(text, CATEGORY_WORDS, CATEGORIES, "category")

    def _lead_source(self, text: str) -> str:
        return _choice(text, LEAD_SOURCE_WORDS, LEAD_SOURCES, "lead source")

    def _channel(self, text: str) -> str:
        if not _CHANNEL.match(text.lower()):
            raise RowProblem("%(value)s must be 1-%(max)s lower-case letters, digits or _ (store, wechat, ...)",
                             value=repr(text), max=MAX_CHANNEL)
        return text.lower()

    def _tags(self, text: str) -> list[str]:
        tags = list(dict.fromkeys(t.strip() for t in _TAG_SPLIT.split(text) if t.strip()))
        if len(tags) > MAX_TAGS:
            raise RowProblem("more than %(max)s tags (%(count)s)", max=MAX_TAGS, count=len(tags))
        long = [t for t in tags if len(t) > MAX_TAG]
        if long:
            raise RowProblem("tag %(value)s is longer than %(max)s characters", value=repr(long[0]), max=MAX_TAG)
        return tags

    def _registered_at(self, text: str) -> str:
        moment = parse_registered_at(text, self.zone)
        if moment > self.now:
            raise RowProblem("%(value)s is in the future", value=repr(text))
        return moment.isoformat()


def parse_customers(
    table: Table, *, mapping: Mapping[str, str] | None = None, phone_region: str = "CN",
    zone: ZoneInfo | None = None, now: datetime,
) -> Parsed:
    """Every row of the sheet, read: the valid ones as customers, the others with every reason, and
    the rows that share a phone, email, reference or card within the file."""
    columns = map_columns(table.header, mapping)
    reader = _RowReader(columns, phone_region, zone or ZoneInfo("UTC"), now)
    parsed = Parsed(ignored=columns.ignored, encoding=table.encoding)
    first_of_key: dict[str, int] = {}
    for line, cells in table.rows:
        parsed.read += 1
        row, problems = reader.read(line, cells)
        if row is not None and row.customer.get("external_ref") in first_of_key and not row.key.startswith(KEY_PREFIX):
            problems = [BadRow.of(line, "external_ref", RowProblem("%(value)s repeats line %(line)s", value=repr(row.key),
                                                                    line=first_of_key[row.key]))]
            row = None
        if row is None:
            parsed.bad.extend(problems)
            continue
        first_of_key.setdefault(row.key, line)
        parsed.rows.append(row)
    parsed.duplicates = duplicates_within(parsed.rows)
    return parsed


def identities_of(row: CustomerRow) -> Iterator[tuple[str, str]]:
    """The row's identities as contacts compares them: (kind, normal value)."""
    for kind in ("phone", "email"):
        if row.customer.get(kind):
            yield kind, row.customer[kind]
    for kind, value, label in row.identities:
        yield (kind if label is None else f"{kind}:{label}"), normal_identity(kind, value)


def duplicates_within(rows: Iterable[CustomerRow]) -> list[Duplicate]:
    """Rows sharing an identity with other rows, or the same person twice (the same import key: the
    same name, phone and email, registered once), one entry per row."""
    lines_of: dict[tuple[str, str], list[int]] = {}
    shown: dict[tuple[str, str], str] = {}
    for row in rows:
        for identity in identities_of(row):
            lines_of.setdefault(identity, []).append(row.line)
        if row.key.startswith(KEY_PREFIX):
            same = ("same name, phone and email", row.key)
            lines_of.setdefault(same, []).append(row.line)
            shown[same] = row.customer["name"]
    per_line: dict[int, tuple[list[str], set[int]]] = {}
    for (kind, value), lines in lines_of.items():
        if len(lines) < 2:
            continue
        for line in lines:
            shared, others = per_line.setdefault(line, ([], set()))
            shared.append(f"{kind.split(':')[-1]} {shown.get((kind, value), value)}")
            others.update(other for other in lines if other != line)
    return [Duplicate(line, tuple(shared), tuple(sorted(others))) for line, (shared, others) in sorted(per_line.items())]


def existing_duplicates(
    rows: Sequence[CustomerRow], by_ref: dict[str, dict[str, Any] | None],
    by_identity: dict[tuple[str, str], dict[str, Any] | None],
) -> list[Duplicate]:
    """Rows not imported before whose identities a customer in contacts holds, one entry per customer."""
    found: list[Duplicate] = []
    for row in rows:
        if by_ref.get(row.key) is not None:
            continue  # the same customer, imported by an earlier run
        holders: dict[str, tuple[dict[str, Any], list[str]]] = {}
        for kind, value in identities_of(row):
            holder = by_identity.get((kind.split(":")[0], value))
            if holder is not None:
                holders.setdefault(str(holder["id"]), (holder, []))[1].append(f"{kind.split(':')[-1]} {value}")
        found += [Duplicate(row.line, tuple(shared), customer=holder) for holder, shared in holders.values()]
    return found


def unique_by_key(rows: Iterable[CustomerRow]) -> list[CustomerRow]:
    """The first row of each key: rows that are the same person are registered once."""
    first: dict[str, CustomerRow] = {}
    for row in rows:
        first.setdefault(row.key, row)
    return list(first.values())
