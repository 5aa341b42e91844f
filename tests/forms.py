"""Filled-in intake forms the tests submit through the real CLI (one place for them)."""

from __future__ import annotations

MEDICAL = """kind = "medical"
schema = 1
[identity]
full_name = "박서준"
exact_location = "shelter C"
[case]
region = "Jilin"
urgency = "high"
narrative = "needs an operation"
treatment = "emergency-operation"
condition = "broken leg"
amount_usd = 800
"""

FOOD = """kind = "food"
schema = 1
[identity]
full_name = "김영희"
exact_location = "shelter D"
[case]
region = "Liaoning"
urgency = "medium"
narrative = "rice for a shelter"
people = 6
amount_usd = 120
"""
