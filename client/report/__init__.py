"""Programme reports (`tessera report`): figures for council meetings, computed on a member's own device.

source (the one adapter to case data) -> records (typed, form-checked) -> compute (pure figures) ->
privacy (small counts hidden) -> render (terminal, CSV) / charts (matplotlib) / html (Jinja2).
Every word shown is in strings.
"""
