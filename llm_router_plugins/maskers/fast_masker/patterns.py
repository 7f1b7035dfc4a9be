"""The regular expressions: candidate shapes, context words and vetoes. No decisions here.

Written for speed with Python's ``re``: a pattern that opens with one character class (``[0-9]``,
``[A-Z]``) or a literal lets the engine skip ahead to candidate characters, so the boundary
lookbehind comes *after* the first character (``[0-9](?<![\\w+][0-9])`` = a digit not glued to a
word). Every repeat is bounded and no two adjacent pieces can split the same characters in many
ways, so a failed match costs little (no catastrophic backtracking).

Boundaries are Unicode aware (``\\w`` covers ``ą``, ``ł``...): a digit run glued to letters or to
other digits is never an identifier; punctuation, quotes and brackets around it are fine.
"""

from __future__ import annotations

import re

from .validators import IBAN_LENGTHS


def ci(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _any(*words: str) -> str:
    return "|".join(words)


# --- boundaries ----------------------------------------------------------------------------------
# First digit of a number: not glued to a word or a '+', not inside a dotted or colon number.
D0 = r"[0-9](?<![\w+][0-9])(?<![0-9][.:][0-9])"
# The same, but a "PL" right before is allowed (PL5261040828, PL61109010140000071219812874).
D0_PL = r"[0-9](?:(?<![\w+][0-9])|(?<=\bPL[0-9]))(?<![0-9][.:][0-9])"
NA = r"(?!\w)(?!\.[0-9])"  # end of a number: not glued to a word, not followed by a decimal part
SEP = "[ \u00a0]"  # a space inside grouped numbers (no-break spaces come with text pasted from documents)
PL_PREFIX = re.compile(r"\bPL[ \u00a0]?$")  # extends a NIP or NRB span leftwards over its country prefix

# The default gap between a context word and its value: no digit (a label names the value next to
# it, not one further on), no line break, no sentence end ('.' + space; abbreviations such as "ur."
# end inside the context word itself).
SAME_CLAUSE = re.compile(r"(?:[^0-9!?\n.]|\.(?!\s))*")
# The same, and no other identifier's label in between: in "kontakt z firmą, REGON 123456785" the
# number belongs to "REGON", not to "kontakt".
_OTHER_LABEL = (r"regon|nip\b|pesel|krs\b|kont[oa]\b|rachun|iban|nrb\b|dow[oó]d|paszport|passport|zam[oó]wie|"
                r"order|faktur|invoice|klienta|customer")
SAME_CLAUSE_OWN_LABEL = ci(rf"(?:(?!{_OTHER_LABEL})[^0-9!?\n.]|\.(?!\s))*")

# --- contiguous digits: PESEL (11), REGON (9, 14), KRS (10), a bare mobile number (9) -----------
DIGIT_RUN = re.compile(rf"{D0}[0-9]{{8,13}}+{NA}")
KRS_LABEL = ci(r"\bKRS\b")

# --- NIP, NRB, IBAN, cards ------------------------------------------------------------------------
NIP = re.compile(rf"{D0_PL}(?:[0-9]{{9}}|[0-9]{{2}}([\- ])[0-9]{{3}}\1[0-9]{{2}}\1[0-9]{{2}}|"
                 rf"[0-9]{{2}}([\- ])[0-9]{{2}}\2[0-9]{{2}}\2[0-9]{{3}}){NA}(?![\- ][0-9])")
NRB = re.compile(rf"{D0_PL}[0-9](?:{SEP}?[0-9]{{4}}){{6}}{NA}(?!{SEP}?[0-9])")


def _iban() -> re.Pattern[str]:
    """``CC`` + 2 check digits, then one body per IBAN length, each allowed only after the countries of
    that length (a fixed-width lookbehind), so the match has exactly the country's length."""
    by_length: dict[int, list[str]] = {}
    for country, length in IBAN_LENGTHS.items():
        if country != "PL":  # Polish accounts are the NRB rule's
            by_length.setdefault(length, []).append(country)
    bodies = []
    for length, countries in sorted(by_length.items(), reverse=True):
        full, rest = divmod(length - 4, 4)
        body = f"(?:{SEP}?[0-9A-Z]{{4}}){{{full}}}" + (f"{SEP}?[0-9A-Z]{{{rest}}}" if rest else "")
        bodies.append(f"(?<=(?:{'|'.join(sorted(countries))})[0-9]{{2}}){body}")
    return re.compile(rf"[A-Z](?<![\w\-][A-Z])[A-Z][0-9]{{2}}(?:{'|'.join(bodies)})(?![0-9A-Za-z])")


IBAN = _iban()
CARD = re.compile(rf"{D0}(?:[0-9]{{12,18}}|"
                  rf"[0-9]{{3}}([ \-\u00a0])[0-9]{{4}}\1[0-9]{{4}}\1[0-9]{{4}}(?:\1[0-9]{{1,3}})?|"  # 4-4-4-4(-3)
                  rf"[0-9]{{3}}([ \-\u00a0])[0-9]{{6}}\2[0-9]{{4,5}}){NA}")  # 4-6-5 (Amex), 4-6-4 (Diners)

# --- documents and vehicles -----------------------------------------------------------------------
ID_CARD = re.compile(rf"[A-Z](?<![\w\-][A-Z])[A-Z]{{2}}[ \u00a0]?[0-9]{{6}}{NA}")
PASSPORT = re.compile(rf"[A-Z](?<![\w\-][A-Z])[A-Z][ \u00a0]?[0-9]{{7}}{NA}")
VIN = re.compile(r"[A-HJ-NPR-Z0-9](?<![\w\-][A-HJ-NPR-Z0-9])[A-HJ-NPR-Z0-9]{16}(?![\w\-])")

# --- phones ---------------------------------------------------------------------------------------
# Nine national digits: a bracketed area code, or nine digits with single optional separators.
_NINE = (r"(?:\(0?[0-9]{2}\)[ \-\u00a0]?[0-9]{3}[ \-\u00a0]?[0-9]{2}[ \-\u00a0]?[0-9]{2}|"
         r"[0-9](?:[ \-\u00a0]?[0-9]){8})")
_PHONE_END = rf"{NA}(?![ \-]?[0-9])"
PHONE_PL_PREFIXED = re.compile(rf"[+0(](?<![\w+][+0(])(?:(?<=\+)48|(?<=0)048|(?<=\()\+?48\))[ \-\u00a0]?{_NINE}"
                               + _PHONE_END)
# Nine digits in any grouping, or (0)NN in brackets: a phone when labelled, or grouped as phones are.
# (A run of 11+ digits is rejected up front: it can never end as a phone.)
PHONE_PL = re.compile(rf"[0-9(](?<![\w+][0-9(])(?<![0-9][.:][0-9(])(?![0-9]{{10}})"
                      rf"(?:(?<=\()0?[0-9]{{2}}\)[ \-\u00a0]?[0-9]{{3}}[ \-\u00a0]?[0-9]{{2}}[ \-\u00a0]?[0-9]{{2}}|"
                      rf"(?<=[0-9])(?:[ \-\u00a0]?[0-9]){{8,9}}){_PHONE_END}")
# How people group Polish numbers: 601 234 567 / 601-234-567 (mobile), 22 123 45 67 / (22) 123-45-67.
PHONE_PL_GROUPING = re.compile(r"[0-9]{3}([ \-\u00a0])[0-9]{3}\1[0-9]{3}|"
                               r"(?:\(0?[0-9]{2}\)|0?[0-9]{2})[ \-\u00a0]?[0-9]{3}([ \-\u00a0])[0-9]{2}\2[0-9]{2}")
PHONE_LABEL = ci(r"\b(?:tel\w*|telefon\w*|kom\.|kom[oó]rk\w*|mobile|cell\w*|phone\w*|zadzwo[nń]\w*|dzwo[nń]\w*|"
                 r"call|sms\w*|whats\s?app|fax\w*|faks\w*|kontakt\w*)\b\.?")
# E.164: '+', a country code, then groups each set off by one separator (or a bracketed area code),
# so a digit run splits one way only.
_GROUP = r"(?:\([0-9]{1,5}\)[0-9]{0,8}|[0-9]{1,8})"
PHONE_INTL = re.compile(rf"\+(?<![\w+]\+)(?!48)[1-9](?:[0-9]{{6,14}}|[0-9]{{0,3}}(?:[ \-.\u00a0]{_GROUP}|"
                        rf"[ \u00a0]?\([0-9]{{1,5}}\)[0-9]{{0,8}}){{1,6}}){_PHONE_END}")

# Labels that make a number an order, invoice or ticket number rather than a phone.
_ORDER = (r"(?:\b(?:zam[oó]wieni\w*|order\w*|faktur\w*|invoice\w*|paczk\w*|przesy[lł]k\w*|tracking|ticket\w*|"
          r"zg[lł]oszeni\w*|spraw\w*|ref\w*|id|klienta|umow\w*|polis\w*|customer|account|konta|transakcj\w*|"
          r"transaction)\b(?:[ \t:#.\-]|\b(?:nr|no|numer|number|to|is|jest)\b){0,12}|#[ \t]*)$")
_MATH = r"[0-9)][ \t]*[+*/×÷^=<>][ \t]*$"
MATH_BEFORE = re.compile(_MATH)
MATH_OR_ORDER_BEFORE = ci(f"(?:{_MATH}|{_ORDER})")
# A count or a calculation after the number: "123 456 789 osób", "601234567 * 2".
COUNT_OR_MATH_AFTER = ci(r"[ \t\u00a0]*(?:[+*/×÷^=<>][ \t]*[0-9(]|(?:osób|osoby|ludzi|sztuk\w*|szt\b|km\b|kg\b|m2|m²|"
                         r"razy|lat\b|dni\b|bajt\w*|bytes|[kmg]b\b|users|people|pieces|items|times|rows|wierszy|"
                         r"rekord\w*|records|mieszka[nń]c\w*|inhabitants))")
INTL_MATH_BEFORE = re.compile(r"[0-9)=][ \t]*$")  # "5 +12345678" is a sum, not a phone

# --- network --------------------------------------------------------------------------------------
EMAIL = re.compile(r"(?<![\w.%+\-])[\w.%+\-]{1,64}@(?:[^\W_](?:[\w\-]{0,61}[^\W_])?\.){1,8}[^\W\d_]{2,24}(?![\w\-])")
URL = ci(r"(?<![\w@/.])(?:https?://|www\.)[^\s<>\"'`]{0,2000}[^\s<>\"'`.,;:!?)\]}]")
IPV4 = re.compile(rf"[0-9](?<![\w.][0-9])(?<![0-9]:[0-9])[0-9]{{0,2}}(?:\.[0-9]{{1,3}}){{3}}{NA}")
# An IPv4-shaped version or section number: after a version word, a 'v', a package pin (==, >=, ~=,
# @) or a section word (rozdział, §, section), or with a pre-release suffix. Four-part versions are
# common (Windows builds, Chrome), and an address is rarely written straight after such a word.
VERSION_BEFORE = ci(r"(?:\b(?:wersj\w*|version\w*|ver|rel|release\w*|build|firmware|v|wydani\w*|aktualizacj\w*|"
                    r"update|upgrade|patch|tag|python|java|node|kernel|chrome|firefox|rozdzia\w*|section|sekcj\w*|"
                    r"punkt\w*|pkt|paragraf\w*|chapter|art|ust|step|krok\w*|pkwiu|pkd|cn|isbn|oid)\.?|"
                    r"[=<>~^!§]=?|@)[\s:=]*$")
VERSION_AFTER = ci(r"(?:-(?:alpha|beta|rc|dev|snapshot|final|release)|\+[a-z0-9])")
IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:[0-9]{1,3}\.){3}[0-9]{1,3}|[0-9A-Fa-f]{1,4})?"
                  r"(?![\w:])")
# From the first separator (rarer than hex letters), checking the first group behind it; the
# rule's prefix then extends the span over that group.
MAC = re.compile(r"[:\-.](?:(?<=(?<![\w:.\-])[0-9A-Fa-f]{2}([:\-]))[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}|"
                 r"(?<=(?<![\w:.\-])[0-9A-Fa-f]{4}\.)[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:\-])(?!\.[0-9A-Fa-f])")
MAC_FIRST_GROUP = re.compile(r"(?:[0-9A-Fa-f]{2}|[0-9A-Fa-f]{4})$")

# --- postal codes: NN-NNN where it reads as an address --------------------------------------------
# "12-345" alone is as likely a score, a range or a product code. It is a postal code when a town
# follows (a capitalised word: "00-950 Warszawa") or an address label stands shortly before it.
POSTAL = re.compile(rf"{D0}[0-9]-[0-9]{{3}}{NA}")
TOWN_AFTER = re.compile(r"[ \u00a0]+(?:[A-ZĄĆĘŁŃÓŚŹŻ][a-ząćęłńóśźż]{2,}|[A-ZĄĆĘŁŃÓŚŹŻ]{4,})")
ADDRESS_LABEL = ci(r"(?:\b(?:ul|al|os|pl)\.|\b(?:ulica|ulicy|aleja|alei|adres\w*|kod\w*\s+pocztow\w*|poczta|"
                   r"zamieszka\w*|mieszka\w*|address|zip|postal|postcode|miejscowo\w*))")
# House and flat numbers may stand between the label and the code ("ul. Długa 5 m. 3, 31-042");
# a line break, ';' or a sentence end (". " + capital) may not.
ADDRESS_GAP = re.compile(r"(?:[^;!?\n.]|\.(?!\s+[A-ZĄĆĘŁŃÓŚŹŻ]))*")

# --- dates (of birth) -----------------------------------------------------------------------------
_MONTHS = _any("stycznia", "lutego", "marca", "kwietnia", "maja", "czerwca", "lipca", "sierpnia", "wrze[sś]nia",
               "pa[zź]dziernika", "listopada", "grudnia", "january", "february", "march", "april", "may", "june",
               "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr",
               "jun", "jul", "aug", "sept", "sep", "oct", "nov", "dec", "(?-i:XII|XI|X|IX|VIII|VII|VI|V|IV|III|II|I)")
_EN_MONTHS = _any("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
                  "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sept", "sep", "oct", "nov",
                  "dec")
# Day first (12.03.1985, 1985-03-12, 12 marca 1985, 12th of March 1985), from its first digit.
DATE = ci(rf"[0-9](?<![\w+][0-9])(?<![0-9][.:][0-9])(?:[0-9]?([./\-])[0-9]{{1,2}}\1(?:[0-9]{{4}}|[0-9]{{2}})|"
          rf"[0-9]{{3}}([./\-])[0-9]{{1,2}}\2[0-9]{{1,2}}|"
          rf"[0-9]?(?:st|nd|rd|th)?\.?[ \u00a0]+(?:of[ \u00a0]+)?(?:{_MONTHS})\.?,?[ \u00a0]+[0-9]{{4}}){NA}")
# Month first, the English way: March 12, 1985.
DATE_MONTH_FIRST = ci(rf"\b(?:{_EN_MONTHS})\.?[ \u00a0]+[0-9]{{1,2}}(?:st|nd|rd|th)?,?[ \u00a0]+[0-9]{{4}}{NA}")
BIRTH_ANCHORS = ("ur.", "urodz", "born", "birth", "dob:", "dob ", "d.o.b")  # "dob" alone is in "dobry"
BIRTH_LABEL = ci(r"(?:\bur\.|\burodz\w*|\bborn\b|\bbirth\w*|\bdate\s+of\s+birth|\bDOB\b|\bd\.o\.b\.)")

# --- money ----------------------------------------------------------------------------------------
_AMOUNT_TAIL = r"(?:[0-9]{0,2}(?:[ \u00a0.,'][0-9]{3})+(?:[.,][0-9]{1,2})?|[0-9]{0,11}(?:[.,][0-9]{1,2})?)"
_AMOUNT = rf"[0-9]{_AMOUNT_TAIL}"
_SCALE = (r"(?:[ \u00a0]?(?:tys\.|tys\b|tysi[ąę]c\w*|mln\b\.?|mld\b\.?|milion\w*|miliard\w*|thousand|million|billion|"
          r"bn\b|[kKmM]\b))")
_CURRENCY_AFTER = _any("złotych", "złote", "złoty", "zlotych", "zlote", "zloty", "zł", "zl", "PLN", "pln", "groszy",
                       "grosze", "gr", "EUR", "eur", "euro", "€", "USD", "usd", "dolarów", "dolary", "dolar", "dollars",
                       "dollar", r"\$", "GBP", "£", "funtów", "CHF", "franków")
_MONEY_END = r"(?!\w)(?![.,][0-9])"
# The amount is an atomic group: once read, it is not re-read shorter to try every currency again.
MONEY = re.compile(rf"[0-9](?<![\w.,$€£][0-9])(?>{_AMOUNT_TAIL}){_SCALE}?[ \u00a0]?(?:{_CURRENCY_AFTER})"
                   rf"{_MONEY_END}")
MONEY_PREFIXED = re.compile(rf"[€$£EUPGC](?<![\w.,$€£][€$£EUPGC])(?:(?<=[€$£])|(?<=E)UR|(?<=U)S\$|(?<=U)SD|(?<=P)LN|"
                            rf"(?<=G)BP|(?<=C)HF)[ \u00a0]?(?>{_AMOUNT}){_SCALE}?{_MONEY_END}")
CURRENCY_CODES = frozenset("EUR USD PLN GBP CHF CZK NOK SEK DKK JPY CAD AUD HUF CNY UAH RUB".split())

# --- secrets --------------------------------------------------------------------------------------
JWT = re.compile(r"(?<![\w\-])eyJ[A-Za-z0-9_\-]{8,4000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{0,2000}(?![\w\-])")
# Vendor key shapes, by their first letter (s, r, g, A, x, h, n) so the scan skips other characters.
API_KEY = re.compile(
    r"[srgAxhn](?<![\w\-][srgAxhn])(?:(?<=s)k-ant-[A-Za-z0-9_\-]{20,300}|"
    r"(?<=s)k-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,300}|(?<=g)h[pousr]_[A-Za-z0-9]{36,255}|"
    r"(?<=g)ithub_pat_[A-Za-z0-9_]{22,255}|(?<=A)(?:KIA|SIA)[0-9A-Z]{16}|(?<=x)ox[abposr]-[A-Za-z0-9\-]{10,255}|"
    r"(?<=A)Iza[0-9A-Za-z_\-]{35}|(?<=g)lpat-[A-Za-z0-9_\-]{20,255}|(?<=[sr])k_(?:live|test)_[A-Za-z0-9]{16,255}|"
    r"(?<=h)f_[A-Za-z0-9]{30,255}|(?<=n)pm_[A-Za-z0-9]{36})(?![\w\-])")
PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----[\s\S]{0,20000}?"
                         r"-----END (?:[A-Z0-9]+ ){0,3}PRIVATE KEY-----")
BEARER = re.compile(r"\bBearer[ \t]{1,8}(?P<v>[A-Za-z0-9\-._~+/]{16,4000}={0,2})(?![\w\-])")
# ``key = value`` / ``key: value`` where the key names a secret; the value alone is the finding.
ASSIGNMENT_ANCHORS = ("api", "secret", "token", "passw", "pwd", "hasło", "haslo", "credential", "private", "auth",
                      "access")  # where a key name can start
ASSIGNMENT = re.compile(
    r"(?i:(?P<k>(?:api[_\-]?key|apikey|secret|token|passw(?:or)?d|pwd|has[lł]o|credentials?|private[_\-]?key|"
    r"auth[_\-]?key|access[_\-]?key)[\w\-.]{0,30}))[\"']?(?P<sp>[ \t]*)(?P<op>:=|=>|=|:)[ \t]*"
    r"(?:\"(?P<v>[^\"\n]{4,200})\"|'(?P<v2>[^'\n]{4,200})'|(?P<v3>[^\s\"'`,;)\]}]{6,200}))")
NOT_SECRET_KEY = ci(r"(?:tokens|count|len|length|limit|max|min|size|type|url|uri|path|file|name|endpoint|expir\w*|ttl|"
                    r"timeout|policy|hint|field|label|placeholder|prompt|id|header|env|var|tokeniz\w*)$")
PASSWORD_KEY = ci(r"passw|pwd|has[lł]o")
PLACEHOLDER = ci(r"^(?:[$<{%\[*(]|os\.|process\.|env\b|getenv|none$|null$|nil$|true$|false$|undefined$|required$|"
                 r"optional$|string$|str$|your[_\-]|xx+$|\.\.\.|example$|\*+$)")
REFERENCE = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*(?:\(\)?)?")  # a variable or attribute, not a literal
