# Two commands from a fresh clone:
#   make run    install everything, build the demo registry if missing, serve on 127.0.0.1:8501
#   make test   the same install, then the whole test suite
#   make serve REPLICAS=3   the same as run, but N app processes behind nginx (cookie
#               affinity, TLS with a throw-away certificate) on https://127.0.0.1:8443/
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501
REPLICAS ?= 3
SERVE_PORT ?= 8443
SERVE_APP_PORT ?= 8601
DEMO_PATIENTS ?= 2000
DEMO_SEED ?= 20260715
export DASHBOARD_DB ?= $(CURDIR)/data/registry.duckdb

.PHONY: run serve test install system-deps demo docs bench clean i18n

install: $(VENV)/.installed system-deps
	$(PY) -m dashboard audit init
	$(PY) -m dashboard i18n compile > /dev/null
	$(PY) -m dashboard fonts

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

system-deps:
	bash scripts/system-deps.sh

demo: install
	$(PY) -m dashboard demo --if-missing --patients $(DEMO_PATIENTS) --seed $(DEMO_SEED)

run: demo
	$(PY) -m streamlit run app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# N replicas on 127.0.0.1:$(SERVE_APP_PORT).. behind nginx (run as you, config in a temp
# folder): scripts/serve_replicas.py, deploy/nginx/registry.conf. Ctrl-C stops them all.
serve: demo
	$(PY) scripts/serve_replicas.py --replicas $(REPLICAS) --port $(SERVE_PORT) --app-port $(SERVE_APP_PORT)

test: install
	$(PY) -m pytest -q

docs: install
	$(PY) -m dashboard docs

# After changing user-facing text: refresh the catalogs from the code, then translate
# what `python -m dashboard i18n todo` lists and check.
i18n: install
	$(PY) -m dashboard i18n extract
	$(PY) -m dashboard i18n check

bench: install
	$(PY) bench/bench_build.py --patients 10000,100000,1000000

clean:
	rm -rf $(VENV) data/*.duckdb data/backups data/.serving
