# Every target the README and CI call. Each creates .venv if missing and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test verify demo lint bench vectors clean catalogs screenshots
# the app's translations: .po files are the source (client/locale), .mo files are compiled from them here
PO := $(wildcard client/locale/*/LC_MESSAGES/tessera.po)
MO := $(PO:.po=.mo)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[server,test,dev]'
	touch $(STAMP)

%.mo: %.po | $(STAMP)
	$(VENV)/bin/pybabel compile --statistics -i $< -o $@

# after changing the app's messages: extract them and merge them into each language's catalog, then translate
catalogs: $(STAMP)
	$(VENV)/bin/pybabel extract -F babel.cfg -k N_ -k _ --sort-output --project=Tessera -o client/locale/tessera.pot .
	$(VENV)/bin/pybabel update -i client/locale/tessera.pot -d client/locale -D tessera --no-fuzzy-matching --ignore-obsolete

test: $(STAMP) $(MO)
	$(PY) -m pytest -q --ignore=tests/verify --ignore=tests/hostile

# The adversarial suite: seizure, parser fuzzing, authorization matrix, crash durability (issue 8), and the
# hostile-server suite (tests/hostile: the real client against a relay that lies, issues 18 and 25).
verify: $(STAMP) $(MO)
	$(PY) -m pytest -q tests/verify tests/hostile

# the app's screens in Korean and English, taken by its browser tests, into docs/screenshots
screenshots: $(STAMP) $(MO)
	TESSERA_SCREENSHOTS=docs $(PY) -m pytest -q tests/app/test_browser.py

demo: $(STAMP) $(MO)
	$(VENV)/bin/tessera demo

lint: $(STAMP)
	$(VENV)/bin/ruff check keys contract server client privatefiles tests bench
	$(VENV)/bin/mypy keys contract server client privatefiles

bench: $(STAMP)
	$(PY) -m bench.crypto
	$(PY) -m bench.intake
	$(PY) -m bench.attachments
	$(PY) -m bench.cli
	$(PY) -m bench.lifecycle
	$(PY) -m bench.rekey
	$(PY) -m bench.triage

vectors: $(STAMP)
	$(PY) -m tests.vectors.generate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
