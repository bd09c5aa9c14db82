# Convenience wrappers; tasks.py does the work and needs only Python 3.11+ and pip.
.PHONY: demo test data lint
demo:
	python3 tasks.py demo
test:
	python3 tasks.py test
data:
	.venv/bin/kseg synth --bundled --out data
lint:
	.venv/bin/ruff check toolkit tests benchmarks tasks.py
