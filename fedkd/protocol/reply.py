"""Keys of the MetricRecord a client sends back with every reply (train and evaluate)."""

from __future__ import annotations

NUM_EXAMPLES = "num-examples"        # Flower's default aggregation weight
UNIFORM_WEIGHT = "uniform-weight"    # always 1: equal-weight averaging (client-level DP)
PARTITION_ID = "partition-id"        # which partition (client) replied
PARTICIPATIONS = "participations"    # trainings of this client so far, this one included
SECONDS = "seconds"                  # client compute of this reply

# Train replies
TRAIN_LOSS = "train_loss"            # the summed objective, example-weighted mean over the local steps
TRAIN_ACCURACY = "train_accuracy"
LOSS_PREFIX = "loss_"                # + the name of each weighted term of the objective (loss_ce, loss_kd_global, ...)

# Evaluate replies
PERSONAL_LOSS = "personal_loss"      # the client's own model on its own test split
PERSONAL_ACCURACY = "personal_accuracy"
GLOBAL_LOSS = "global_loss"          # the server's model on the client's test split
GLOBAL_ACCURACY = "global_accuracy"
PERSONAL_PREFIX = "personal_"        # + each of the workload's own scores of the personal model (face verification)
GLOBAL_PREFIX = "global_"            # + the same scores of the server's model, computed by the server

# Sample-level DP (train replies)
DP_EPSILON = "dp_epsilon"            # the client's cumulative ε after this reply
DP_STEPS = "dp_steps"                # DP-SGD steps taken in this participation
DP_TOTAL_STEPS = "dp_total_steps"
DP_NOISE_MULTIPLIER = "dp_noise_multiplier"
DP_SAMPLE_RATE = "dp_sample_rate"
DP_EXHAUSTED = "dp_exhausted"        # 1 when no further step fits the budget
DP_REFUSED = "dp_refused"            # 1: the budget was spent; the client sent the global weights back untrained

# Not averaged across clients: they identify a reply rather than measure it.
IDENTITY_KEYS = (PARTITION_ID, PARTICIPATIONS, SECONDS, UNIFORM_WEIGHT)


def loss_key(term: str) -> str:
    return f"{LOSS_PREFIX}{term}"
