# Every target sets up .venv first if needed (scripts/setup.sh is a no-op when up to date).
SHELL := /bin/bash
VENV ?= .venv
ARGS ?=
FLWR_ARGS ?=

.PHONY: setup run faces gen flwr-run deploy stop-superlink test lint bench compare face-table gen-table gen-table-gpu privacy-example clean

setup:
	@scripts/setup.sh

run: setup  ## main job: FedCKD with the LR face student on the embedded faces (pass Hydra overrides in ARGS="...")
	@$(VENV)/bin/fedkd-sim +experiment=mission $(ARGS)

faces: setup  ## LR face distillation: HR teacher (cached) -> 16 px student (pass overrides in ARGS="...")
	@$(VENV)/bin/fedkd-faces $(ARGS)

gen: setup  ## private generation: SSM + HMC on the MNIST subset (pass overrides in ARGS="...")
	@$(VENV)/bin/fedkd-gen $(ARGS)

flwr-run: setup  ## the same app through `flwr run .` (local SuperLink in the background)
	@source scripts/flwr-env.sh && n=$$(fedkd-config --get simulation.num_clients $(ARGS)) && \
	flwr run . --stream --federation-config "num-supernodes=$$n" \
	  --run-config "overrides='$(ARGS)' output-root='$(CURDIR)/results'" $(FLWR_ARGS)

deploy: setup  ## the app on Flower's Deployment Engine: TLS SuperLink + N SuperNodes here (pass options and overrides in ARGS="...")
	@$(VENV)/bin/fedkd-deploy $(ARGS)

stop-superlink:
	@scripts/stop-superlink.sh

test: setup  ## ruff + the whole test suite
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/python -m pytest -q --durations=30

lint: setup
	@$(VENV)/bin/ruff check .

bench: setup  ## round overhead, face set difficulty, client update cost, client state memory, DP cost
	@$(VENV)/bin/python benchmarks/round_overhead.py
	@$(VENV)/bin/python benchmarks/face_difficulty.py
	@$(VENV)/bin/python benchmarks/client_update_cost.py
	@$(VENV)/bin/python benchmarks/client_state_memory.py
	@$(VENV)/bin/python benchmarks/face_student_speed.py
	@$(VENV)/bin/python benchmarks/dp_cost.py

compare: setup  ## tuned personalized-FL comparison (docs/results/personalization.*; resumable; ARGS="--max-minutes 50")
	@$(VENV)/bin/python benchmarks/personalization_comparison.py --workers 2 $(ARGS)

face-table: setup  ## LR face students: resolution x method table (docs/results/face_distillation.*)
	@$(VENV)/bin/python benchmarks/face_distillation_table.py --workers 2

gen-table: setup  ## private generation benchmark (docs/results/private_generation.*)
	@$(VENV)/bin/python benchmarks/private_generation.py --workers 2 --seeds 0 1 2 \
	  --dp-extra generator.train.batch_size=256 generator.train.epochs=25

gen-table-gpu: setup  ## the same benchmark sized for one CUDA device; DATA_ROOT: torchvision's MNIST/FashionMNIST files
	@$(VENV)/bin/python benchmarks/private_generation.py --preset gpu --data-root "$(DATA_ROOT)" --seeds 0 1 2

EXAMPLE = dataset=digits lowres=none simulation.num_clients=5 num_rounds=10 train.lr=0.003 simulation.backend=inprocess
privacy-example: setup  ## FedCKD vs FedAvg under sample-level DP, ε ∈ {1,2,4,8} × 3 seeds, and the figure (docs/privacy.md)
	@$(VENV)/bin/fedkd-sim -m $(EXAMPLE) strategy=fedckd,fedavg privacy=sample privacy.target_epsilon=1,2,4,8 \
	  seed=0,1,2 hydra.sweep.dir=results/sweeps/dp-example/private
	@$(VENV)/bin/fedkd-sim -m $(EXAMPLE) strategy=fedckd,fedavg seed=0,1,2 hydra.sweep.dir=results/sweeps/dp-example/nonprivate
	@$(VENV)/bin/fedkd-plot privacy-utility results/sweeps/dp-example --out docs/figures/privacy_utility_digits \
	  --metric personal_accuracy_client_mean --metric global_accuracy \
	  --title "digits, 5 clients, 10 rounds: sample-level DP-SGD at every client (mean ± std, 3 seeds)"

clean:
	rm -rf results multirun .pytest_cache .ruff_cache
