# Set-up is a chain of steps; make skips a step whose inputs did not change.
#   make demo   set up from nothing, then tag the bundled example reports
#   make test   set up from nothing, then run the tests
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CACHE  ?= $(or $(POLICY_NLP_CACHE),$(HOME)/.cache/policy-nlp)
PKUSEG_WHEEL := $(CACHE)/wheels/pkuseg-0.0.12-py3-none-any.whl
PKUSEG_MODEL := models/pkuseg_ctb8/weights.npz
DEFAULT_MODEL := models/default/meta.json
DOCCANO := $(CACHE)/doccano-venv/bin/doccano
SHARED ?= ../shared

.PHONY: install segmenter model demo test doccano clean results smoke-py312 browser

install: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# pkuseg's pretrained model comes from the pkuseg 0.0.12 wheel on PyPI (fetched by pip, never at run time).
$(PKUSEG_WHEEL):
	mkdir -p $(dir $@)
	$(BIN)/pip download --quiet --no-deps --dest $(dir $@) pkuseg==0.0.12

segmenter: $(PKUSEG_MODEL)
$(PKUSEG_MODEL): $(VENV)/.installed $(PKUSEG_WHEEL) nlp/segmenter/convert.py
	$(BIN)/policy-nlp convert-pkuseg $(PKUSEG_WHEEL) --output models/pkuseg_ctb8

# The model is rebuilt when its data, configs or the code that builds it (components, training,
# tokenizer, normalisation, metrics) change.
MODEL_CODE := $(wildcard nlp/components/*.py nlp/training/*.py nlp/segmenter/*.py) nlp/normalize.py nlp/metrics.py nlp/model.py
model: $(DEFAULT_MODEL)
$(DEFAULT_MODEL): $(PKUSEG_MODEL) annotations/policy_reports.jsonl configs/default.cfg configs/labels.json configs/user_dict.txt $(MODEL_CODE)
	@echo "Training models/default from annotations/policy_reports.jsonl (a few minutes, once)..."
	$(BIN)/policy-nlp train configs/default.cfg --output models/default --chosen-by benchmarks/results/crossval_default.json

doccano: $(DOCCANO)
$(DOCCANO): $(VENV)/.installed
	$(BIN)/policy-nlp doccano install

demo: $(DEFAULT_MODEL)
	$(BIN)/policy-nlp tag examples --model models/default --output out/demo.jsonl --summary out/demo_summary.csv \
		--html out/demo_report.html
	@$(BIN)/python -m nlp.tagging.show out/demo.jsonl out/demo_summary.csv
	@echo "HTML report: $(CURDIR)/out/demo_report.html"

# The report's browser test opens it in Debian's chromium, installed here when missing (needs root;
# without it that one test skips, saying why).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && (apt-get install -y -q chromium >/dev/null 2>&1 || \
		(apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null)) || \
		echo "chromium not installed: the browser test of the HTML report will skip"; }

test: $(DEFAULT_MODEL) $(DOCCANO) browser
	POLICY_NLP_REQUIRE_DOCCANO=1 $(BIN)/python -m pytest -q

# Python 3.12: a non-editable install in its own venv tags the bundled examples exactly as 3.11 does.
# (3.13 is out of reach: spaCy stays below 3.8.13 for doccano-client's pydantic 1; README "Dependencies".)
PYTHON312 ?= $(or $(firstword $(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12)),$(shell command -v python3.12 2>/dev/null))
smoke-py312: $(DEFAULT_MODEL)
	@test -n "$(PYTHON312)" || { echo "smoke-py312: no python3.12 found (set PYTHON312=...)"; exit 1; }
	rm -rf .venv312 out/py312 && $(PYTHON312) -m venv .venv312
	.venv312/bin/pip install --quiet --upgrade pip && .venv312/bin/pip install --quiet .
	.venv312/bin/policy-nlp tag examples --model models/default --output out/py312/tagged.jsonl --progress never
	$(BIN)/policy-nlp tag examples --model models/default --output out/py312/tagged_py311.jsonl --progress never
	cmp out/py312/tagged.jsonl out/py312/tagged_py311.jsonl && \
	  echo "Python 3.12: $$(wc -l < out/py312/tagged.jsonl) records, identical to Python 3.11's"

# Accuracy figures of the README (grouped cross-validation on the corpus and the real-text dev set,
# which reads ../shared): each file records the commit, the data's SHA-256 and the config it came from.
# About 10 minutes for the default; the spaCy `ner` comparisons about 25 each.
RESULTS := benchmarks/results/crossval_default.json benchmarks/results/crossval_crf_noaug_lr.json \
           benchmarks/results/crossval_ner_pkuseg.json benchmarks/results/crossval_ner_char.json
results: $(RESULTS)
benchmarks/results/crossval_default.json: $(PKUSEG_MODEL) annotations/policy_reports.jsonl annotations/real_dev.jsonl configs/default.cfg configs/labels.json $(MODEL_CODE)
	$(BIN)/policy-nlp crossval configs/default.cfg --shared $(SHARED) --predictions --output $@
benchmarks/results/crossval_crf_noaug_lr.json: $(PKUSEG_MODEL) annotations/policy_reports.jsonl annotations/real_dev.jsonl configs/default.cfg $(MODEL_CODE)
	$(BIN)/policy-nlp crossval configs/default.cfg --shared $(SHARED) --components.crf_entities.augment 0 --components.sk_themes.estimator logistic \
		--components.sk_themes.C 8.0 --components.sk_themes.keyword_weight 0.0 --output $@
benchmarks/results/crossval_ner_pkuseg.json: $(PKUSEG_MODEL) annotations/policy_reports.jsonl annotations/real_dev.jsonl configs/ner.cfg $(MODEL_CODE)
	$(BIN)/policy-nlp crossval configs/ner.cfg --shared $(SHARED) --training.max_epochs 6 --output $@
benchmarks/results/crossval_ner_char.json: $(PKUSEG_MODEL) annotations/policy_reports.jsonl annotations/real_dev.jsonl configs/ner.cfg $(MODEL_CODE)
	$(BIN)/policy-nlp crossval configs/ner.cfg --shared $(SHARED) --training.max_epochs 6 --nlp.tokenizer.segmenter char --output $@

clean:
	rm -rf out models/default models/pkuseg_ctb8
