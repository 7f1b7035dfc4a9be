"""fast_masker: rule-based detection of Polish and international personal data and secrets.

Patterns propose, validators (checksums, real dates) and context words decide; see ``rules.py``
for what each rule covers and ``masker.py`` for how overlaps are settled.
"""

from .masker import FastMasker
from .rules import RULES, Rule

__all__ = ["FastMasker", "RULES", "Rule"]
