# make demo   - install what is needed, start the lab, inject an incident, run the runbook
# make test   - install what is needed and run every test (sanity, units, integration, lint)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
LINK := .build/collections/ansible_collections/oncall/runbooks
GET_PIP := $(HOME)/.ansible/test/cache/get_pip_24_2.py
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PATH := $(BIN):$(PATH)

.PHONY: deps system-deps venv link lab-up lab-down lab-status demo test sanity units integration molecule lint clean

deps: system-deps venv link $(GET_PIP)

system-deps:
	@bash lab/install-deps.sh

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Playbooks in a checkout find the collection here (see ansible.cfg).
link:
	@mkdir -p $(dir $(LINK)) && ln -sfn ../../../.. $(LINK)

$(GET_PIP): tests/ansible-test-get-pip.py
	@mkdir -p $(dir $@) && cp $< $@

lab-up: deps
	$(BIN)/python -m lab up

lab-down:
	$(BIN)/python -m lab down

lab-status:
	$(BIN)/python -m lab status

demo: deps
	@bash lab/demo.sh

test: deps
	@bash tests/run-all.sh

sanity units integration molecule lint: deps
	@bash tests/run-all.sh $@

clean: lab-down
	rm -rf .build tests/output
