"""The checks that relate several config sections, for all three commands: the only hand-written validation.

Everything about a single value (type, required, unknown key, range, choice) and about the fields of one
section is declared with its settings class and checked by `fedkd.config.check`. What is left here needs
two sections at once: a data set's size and the number of clients, a method and a privacy mode, a model
and a workload, a generator and a privacy mechanism. Each violation is one ConfigError line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fedkd.config.check import check_target
from fedkd.data.sources import DATASETS
from fedkd.data.synthetic_faces import FaceSpec
from fedkd.distill.face_distiller import FaceDistiller
from fedkd.errors import ConfigError, UserError
from fedkd.faces.schedules import SCHEDULES
from fedkd.faces.schedules.standard import StandardMethod
from fedkd.methods.personal_head import FedPerSettings
from fedkd.methods.registry import METHODS
from fedkd.models.lr_student import LRStudentSettings
from fedkd.models.registry import MODELS
from fedkd.privacy.client_level import ClientDPSettings
from fedkd.privacy.dp_step import PER_SAMPLE_LOSS_MODES
from fedkd.privacy.registry import PRIVACY_MODES
from fedkd.privacy.sample_level import SampleDPSettings
from fedkd.workloads.face_kd import FaceKDWorkload
from fedkd.workloads.registry import WORKLOADS

if TYPE_CHECKING:
    from fedkd.app.experiment_config import FederatedConfig
    from fedkd.face_experiment.config import FacesConfig
    from private_gen.config import GenConfig

DISTILLER_EXAMPLE = "fedkd.distill.cckd.CCKD (see configs/face_method/)"


def check_federated(c: FederatedConfig) -> None:
    for registry, name, settings in ((DATASETS, c.dataset.name, c.dataset), (MODELS, c.model.name, c.model),
                                     (WORKLOADS, c.workload.name, c.workload), (METHODS, c.strategy.name, c.strategy),
                                     (PRIVACY_MODES, c.privacy.mode, c.privacy)):
        registry.selected(name, settings)
    _check_data_and_clients(c)
    _check_personal_layers(c)
    _check_method_privacy(c)
    _check_audit(c)
    if isinstance(c.workload, FaceKDWorkload):
        _check_face_workload(c, c.workload)


def _check_data_and_clients(c: FederatedConfig) -> None:
    native, size = DATASETS[c.dataset.name].known_shape(c.dataset)
    if c.lowres.enabled and c.lowres.size > native:
        raise ConfigError("lowres.size", c.lowres.size,
                          f"at most {native} (the resolution of dataset={c.dataset.name}), or lowres=none")
    if isinstance(c.dataset, FaceSpec) and c.dataset.num_families > c.dataset.num_identities:
        raise ConfigError("dataset.num_families", c.dataset.num_families,
                          f"at most dataset.num_identities={c.dataset.num_identities}")
    sim = c.simulation
    if size is not None and sim.num_clients > size // 2:
        raise ConfigError("simulation.num_clients", sim.num_clients,
                          f"at most {size // 2} (dataset={c.dataset.name} has {size} samples; "
                          "each client needs a train and a test sample)")
    if sim.min_clients > sim.num_clients:
        raise ConfigError("simulation.min_clients", sim.min_clients,
                          f"at most simulation.num_clients={sim.num_clients}")
    if sim.evaluate_split == "validation" and c.partition.validation_fraction == 0:
        raise ConfigError("simulation.evaluate_split", sim.evaluate_split,
                          "test while partition.validation_fraction=0 (or set partition.validation_fraction > 0)")


def _check_personal_layers(c: FederatedConfig) -> None:
    if not isinstance(c.strategy, FedPerSettings):
        return
    names = [n for n, _ in c.model.build((1, c.lowres.size, 2)).named_parameters()]
    for prefix in c.strategy.personal_layers:
        if not any(n == prefix or n.startswith(prefix + ".") for n in names):
            tops = sorted({n.split(".")[0] for n in names})
            raise ConfigError("strategy.personal_layers", prefix,
                              f"a prefix of the model's parameter names ({', '.join(tops)})")


def _check_audit(c: FederatedConfig) -> None:
    audit = c.audit
    if not audit.enabled:
        return
    outside = [k for k in audit.clients if k >= c.simulation.num_clients]
    if outside:
        raise ConfigError("audit.clients", audit.clients,
                          f"partition ids below simulation.num_clients={c.simulation.num_clients}")
    if audit.break_dp != "none" and not isinstance(c.privacy, SampleDPSettings):
        raise ConfigError("audit.break_dp", audit.break_dp, "none unless privacy=sample (it breaks DP-SGD)")
    if audit.canary == "input" and isinstance(c.workload, FaceKDWorkload):
        raise ConfigError("audit.canary", audit.canary, "gradient with workload=face_kd (its distillation terms "
                          "need a teacher output for every training record)")


def _check_method_privacy(c: FederatedConfig) -> None:
    reason = c.method().refuses.get(c.privacy.mode)
    if reason is None and c.strategy.local_norm and c.privacy.mode == "client":
        reason = "with strategy.local_norm=true its normalisation layers stay on the client; clipping needs the " \
                 "full update"
    if reason is not None:
        raise ConfigError("strategy", c.strategy.name,
                          f"a method other than {c.strategy.name} under privacy={c.privacy.mode} ({reason})")
    privacy = c.privacy
    if isinstance(privacy, SampleDPSettings) and privacy.grad_sample_mode in PER_SAMPLE_LOSS_MODES:
        coupled = "the face_kd workload's distillation terms" if isinstance(c.workload, FaceKDWorkload) else \
            "strategy.kd_form=relational's terms" if getattr(c.strategy, "kd_form", None) == "relational" else None
        if coupled is not None:
            raise ConfigError("privacy.grad_sample_mode", privacy.grad_sample_mode, f"auto or hooks; "
                              f"{privacy.grad_sample_mode} needs per-sample loss terms and {coupled} couple the "
                              "batch's samples")
    if isinstance(privacy, ClientDPSettings) and privacy.clipping == "adaptive":
        stddev = privacy.count_stddev(c.simulation.train_clients_per_round())
        if privacy.noise_multiplier >= 2 * stddev:
            raise ConfigError("privacy.noise_multiplier", privacy.noise_multiplier,
                              f"below 2 × privacy.clipped_count_stddev = {2 * stddev:g} under adaptive "
                              "clipping (raise privacy.clipped_count_stddev)")


def _check_face_workload(c: FederatedConfig, workload: FaceKDWorkload) -> None:
    method = workload.method
    if not isinstance(c.model, LRStudentSettings):
        raise ConfigError("model", c.model.name, "lr_student under workload=face_kd")
    if not DATASETS[c.dataset.name].is_face_set:
        raise ConfigError("dataset", c.dataset.name, "faces or imagefolder under workload=face_kd")
    if not c.lowres.enabled or c.lowres.upsample:
        raise ConfigError("lowres", "none" if not c.lowres.enabled else "upsample=true",
                          "an LR size without up-sampling under workload=face_kd, e.g. lowres=lr16")
    if c.model.embedding_dim != workload.teacher.embedding_dim:
        raise ConfigError("model.embedding_dim", c.model.embedding_dim,
                          f"workload.teacher.embedding_dim={workload.teacher.embedding_dim}")
    SCHEDULES.selected(method.schedule, method)
    if not isinstance(method, StandardMethod) or method.assistant_epochs > 0:
        raise ConfigError("workload.method", method.name,
                          "a method with schedule=standard and no assistant stream (bridge, evolutionary, route "
                          "and the assistant are centralised training schedules: run them with fedkd-faces)")
    if isinstance(c.dataset, FaceSpec) and workload.eval_identities > c.dataset.num_identities - 2:
        raise ConfigError("workload.eval_identities", workload.eval_identities,
                          f"at most dataset.num_identities - 2 = {c.dataset.num_identities - 2}")
    distiller = check_target("workload.method.distiller", method.distiller, FaceDistiller, DISTILLER_EXAMPLE)
    if method.distiller.get("lambda_logits", 0) > 0:
        raise ConfigError("workload.method.distiller.lambda_logits", method.distiller["lambda_logits"],
                          "0: the teacher classifies its own training identities, not the clients' classes "
                          "(use an embedding-level distiller, e.g. face_method@workload.method=feature_kd)")
    check_dp_compatible(distiller, c.privacy.mode, "workload.method.distiller")


def check_dp_compatible(distiller: type[FaceDistiller], privacy_mode: str, key: str) -> None:
    """Refuse a batch-coupled distillation loss under sample-level DP (client-level DP clips whole updates).

    DP-SGD bounds each sample's influence by clipping its own gradient; a loss in which one sample's
    term depends on the other samples of the batch (relations, correlations, contrastive negatives)
    gives per-sample gradients that also carry the other samples, so the guarantee does not hold.
    """
    if privacy_mode == "sample" and distiller.batch_coupled:
        raise UserError(f"{key}={distiller.__name__} couples the samples of a batch and cannot run under "
                        "sample-level differential privacy (privacy=sample); choose a per-sample distiller "
                        "(none, hinton_kd, feature_kd, selective_kd), client-level DP (privacy=client) "
                        "or privacy=none")


def check_faces(c: FacesConfig) -> None:
    DATASETS.selected(c.dataset.name, c.dataset)
    if not DATASETS[c.dataset.name].is_face_set:
        raise ConfigError("dataset", c.dataset.name, "a face set: faces or imagefolder")
    SCHEDULES.selected(c.face_method.schedule, c.face_method)
    resolution, _ = DATASETS[c.dataset.name].known_shape(c.dataset)
    lowres, evaluation = c.lowres, c.evaluation
    if not lowres.enabled:
        raise ConfigError("lowres", "none", "an LR view, e.g. lowres=lr16 (the students learn from LR faces)")
    if lowres.size > resolution:
        raise ConfigError("lowres.size", lowres.size, f"at most dataset.resolution={resolution}")
    if lowres.upsample:
        raise ConfigError("lowres.upsample", True, "false (the LR students take the LR side as input)")
    if isinstance(c.dataset, FaceSpec):
        if evaluation.eval_identities > c.dataset.num_identities - 2:
            raise ConfigError("evaluation.eval_identities", evaluation.eval_identities,
                              f"at most dataset.num_identities - 2 = {c.dataset.num_identities - 2}")
        if evaluation.gallery_per_identity >= c.dataset.images_per_identity:
            raise ConfigError("evaluation.gallery_per_identity", evaluation.gallery_per_identity,
                              f"less than dataset.images_per_identity={c.dataset.images_per_identity}")
    check_target("face_method.distiller", c.face_method.distiller, FaceDistiller, DISTILLER_EXAMPLE)


def check_generation(c: GenConfig) -> None:
    # imported here: the ClientApp imports this module, and needs none of private_gen
    from private_gen.device import resolve_device
    from private_gen.generators import GENERATORS
    from private_gen.privacy.registry import GEN_PRIVACY
    from private_gen.samplers import SAMPLERS

    resolve_device(c.device)  # device=cuda without a visible CUDA device stops here, before any work
    DATASETS.selected(c.dataset.name, c.dataset)
    SAMPLERS.selected(c.sampler.name, c.sampler)
    GEN_PRIVACY.selected(c.gen_privacy.mechanism, c.gen_privacy)
    generator = GENERATORS.selected(c.generator.name, c.generator)
    if c.gen_privacy.mechanism not in generator.privacy:
        raise ConfigError("gen_privacy", c.gen_privacy.mechanism,
                          f"{' or '.join(generator.privacy)} with generator={c.generator.name}")
    if generator.needs_class_labels and not c.data.class_conditional:
        raise ConfigError("data.class_conditional", False,
                          f"true with generator={c.generator.name} (it models each class)")
    objective = getattr(c.generator, "objective", None)
    if objective is not None and objective.kind == "dsm" and c.gen_privacy.mechanism == "projection_perturbation":
        raise ConfigError("generator.objective.kind", "dsm",
                          "ssm or ssm_vr with gen_privacy=projection_perturbation (it perturbs the sliced-score "
                          "statistics, which DSM does not have)")
    if c.audit.enabled and c.generator.name != "score_ssm":
        raise ConfigError("audit.enabled", True, f"false with generator={c.generator.name} (the audit scores a "
                          "score model's denoising loss; generator=score_ssm)")
    if c.audit.enabled and c.audit.break_dp != "none" and c.gen_privacy.mechanism != "dp":
        raise ConfigError("audit.break_dp", c.audit.break_dp, "none unless gen_privacy=dp (it breaks DP-SGD)")
    if c.audit.enabled and c.audit.canary == "gradient" and c.gen_privacy.mechanism == "projection_perturbation":
        raise ConfigError("audit.canary", "gradient", "input with gen_privacy=projection_perturbation (it perturbs "
                          "the objective's statistics, which a gradient canary would bypass)")
    _check_guidance(c, objective)
    train = getattr(c.generator, "train", None)
    if c.gen_privacy.mechanism == "dp" and getattr(train, "epochs", None) == 0:
        raise ConfigError("generator.train.epochs", 0, "at least 1 with gen_privacy=dp (gen_privacy=none with "
                          "epochs=0 scores a pretrained model alone)")
    if getattr(train, "trainable", "all") != "all" and c.pretrain.name == "none":
        raise ConfigError("generator.train.trainable", train.trainable, "all with pretrain=none (it fine-tunes part "
                          "of a pretrained model; or choose a pretrain=, e.g. pretrain=glyphs)")
    _check_pretraining(c, generator.pretrains)


def _check_pretraining(c: GenConfig, supported: bool) -> None:
    from private_gen.pretraining import DIGIT_SETS

    name = c.pretrain.name
    if name == "none":
        return
    if not supported:
        raise ConfigError("pretrain", name, f"none with generator={c.generator.name} (it has no pretraining)")
    if name == "glyphs" and c.dataset.name not in DIGIT_SETS:
        raise ConfigError("pretrain", name, f"procedural_faces, checkpoint or none with dataset={c.dataset.name} "
                          f"(digit glyphs label class k as the digit k: {', '.join(DIGIT_SETS)})")
    if name == "dp_merf" and c.gen_privacy.mechanism == "projection_perturbation":
        raise ConfigError("pretrain", name, "none, glyphs, procedural_faces or checkpoint with "
                          "gen_privacy=projection_perturbation (a DP-MERF release composes only with DP-SGD's (ε, δ))")
    if name == "dp_merf" and not c.data.class_conditional:
        raise ConfigError("data.class_conditional", False, "true with pretrain=dp_merf (DP-MERF models each class)")
    if name == "procedural_faces" and c.dataset.name != "faces":
        raise ConfigError("pretrain", name, f"glyphs, checkpoint or none with dataset={c.dataset.name} "
                          "(public procedural faces pretrain a model of dataset=faces)")


def _check_guidance(c: GenConfig, objective: object) -> None:
    """Classifier-free guidance needs the unconditional class, which label dropout trains (class-conditional
    score models only)."""
    dropout = getattr(objective, "label_dropout", 0.0)
    if dropout > 0 and not c.data.class_conditional:
        raise ConfigError("generator.objective.label_dropout", dropout, "0 with data.class_conditional=false (it "
                          "trains a null class for guidance; an unconditional model has no classes)")
    if c.sampler.guidance > 0 and c.generator.name != "score_ssm":
        raise ConfigError("sampler.guidance", c.sampler.guidance, f"0 with generator={c.generator.name} (it draws "
                          "without a score sampler)")
    if c.sampler.guidance > 0 and dropout == 0:
        raise ConfigError("sampler.guidance", c.sampler.guidance, "0, or train the null class it needs with "
                          "generator.objective.label_dropout=0.1 (classifier-free guidance)")
