"""Client-level differential privacy at the server: Flower's DP strategy wrappers (central DP).

Each sampled client's model update is clipped to norm C (on the server, or on the client by a mod), the
updates are averaged with equal weights and the server adds Gaussian noise of std σ·C/m to the mean
(m = clients sampled per round): DP-FedAvg (McMahan, Ramage, Talwar & Zhang, "Learning Differentially
Private Recurrent Language Models", ICLR 2018). Adaptive clipping follows Andrew, Thakkar, McMahan &
Ramaswamy ("Differentially Private Learning with Adaptive Clipping", NeurIPS 2021): C tracks a quantile
of the update norms through a noised clipped count, and the σ given here is the total noise
multiplier of both releases (Flower splits it between them).

The guarantee is client-level (add/remove one client's whole data) and central: the server is trusted
to add the noise. ε is accounted every round with Flower's RDP accountant (Google dp-accounting): no
amplification when every client trains each round, sampling without replacement (replace-one
adjacency, the way Flower samples a fixed number of clients) otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from flwr.app import Context, Message
from flwr.clientapp.mod import adaptiveclipping_mod, fixedclipping_mod
from flwr.clientapp.typing import ClientAppCallable
from flwr.serverapp.strategy import (
    DifferentialPrivacyClientSideAdaptiveClipping,
    DifferentialPrivacyClientSideFixedClipping,
    DifferentialPrivacyServerSideAdaptiveClipping,
    DifferentialPrivacyServerSideFixedClipping,
    Strategy,
)
from flwr.supercore.differential_privacy import KEY_CLIPPING_NORM
from flwr.supercore.privacy_accounting import (
    GaussianPrivacyEvent,
    NeighboringRelation,
    PrivacyConfig,
    SamplingMethod,
)
from flwr.supercore.privacy_accounting.rdp_accountant import RdpAccountant

from fedkd.config.fields import above, at_least, at_most, one_of, setting
from fedkd.privacy.settings import DPSettings
from fedkd.protocol.instructions import DP_CLIPPING

SIDES = ("server", "client")
CLIPPINGS = ("fixed", "adaptive")
SCOPE = ("client-level (add/remove one client's whole data set; replace-one when clients are sampled), "
         "central (the server adds the noise), cumulative over all rounds; covers the global model, "
         "not the personal models kept on the clients nor the metrics they report")


@dataclass
class ClientDPSettings(DPSettings):
    """`privacy=client`: Flower's DP-FedAvg wrappers. ε covers a whole client, cumulative over rounds."""

    mode: str = "client"
    name: str = "cdp-z${privacy.noise_multiplier}-${privacy.clipping}"
    side: str = setting("server", one_of(SIDES), help="where the updates are clipped (the server adds the noise)")
    clipping: str = setting("fixed", one_of(CLIPPINGS), help="adaptive: Andrew et al. 2021")
    noise_multiplier: float = setting(1.0, above(0), help="σ: noise std on the mean is σ·C/(clients per round); "
                                      "adaptive: total σ")
    clipping_norm: float = setting(1.0, above(0), help="C; the initial C under adaptive clipping")
    target_clipped_quantile: float = setting(0.5, at_least(0), at_most(1), help="adaptive only")
    clip_norm_lr: float = setting(0.2, above(0), help="adaptive only")
    clipped_count_stddev: float | None = setting(None, above(0), help="adaptive only; null: clients per round / 20 "
                                                 "(Flower's default)")

    def count_stddev(self, clients_per_round: int) -> float:
        """The clipped count's noise std under adaptive clipping."""
        return self.clipped_count_stddev or clients_per_round / 20


def wrap_strategy(strategy: Strategy, settings: ClientDPSettings, num_sampled: int) -> Strategy:
    """The strategy inside the Flower DP wrapper of the configured side and clipping."""
    if settings.clipping == "fixed":
        cls = (DifferentialPrivacyServerSideFixedClipping if settings.side == "server"
               else DifferentialPrivacyClientSideFixedClipping)
        return cls(strategy, settings.noise_multiplier, settings.clipping_norm, num_sampled)
    cls = (DifferentialPrivacyServerSideAdaptiveClipping if settings.side == "server"
           else DifferentialPrivacyClientSideAdaptiveClipping)
    return cls(strategy, settings.noise_multiplier, num_sampled, initial_clipping_norm=settings.clipping_norm,
               target_clipped_quantile=settings.target_clipped_quantile, clip_norm_lr=settings.clip_norm_lr,
               clipped_count_stddev=settings.clipped_count_stddev)


class ClientLevelAccountant:
    """Cumulative client-level ε of the noised aggregates, one composition per round."""

    def __init__(self, settings: ClientDPSettings, num_clients: int, num_sampled: int) -> None:
        self.settings = settings
        self.num_clients = num_clients
        self.num_sampled = num_sampled
        sampling = SamplingMethod.NO_AMPLIFICATION if num_sampled >= num_clients \
            else SamplingMethod.WITHOUT_REPLACEMENT
        relation = NeighboringRelation.ADD_OR_REMOVE_ONE if sampling is SamplingMethod.NO_AMPLIFICATION \
            else NeighboringRelation.REPLACE_ONE
        self.sampling = sampling.value
        self.relation = relation.value
        self._config = (sampling, relation)
        self.history: list[float] = []  # the effective noise multiplier of every composed round
        self.accountant = self._new_accountant()

    def _new_accountant(self) -> RdpAccountant:
        sampling, relation = self._config
        return RdpAccountant(PrivacyConfig(target_delta=self.settings.delta, population_size=self.num_clients,
                                           neighboring_relation=relation, sampling_method=sampling))

    def _compose(self, sigma: float) -> None:
        self.accountant.compose(GaussianPrivacyEvent(noise_multiplier=sigma, sample_size=self.num_sampled,
                                                     population_size=self.num_clients))

    def __getstate__(self) -> dict:
        """Checkpoints: the accountant holds module references; it is rebuilt from `history`."""
        return {k: v for k, v in self.__dict__.items() if k != "accountant"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self.accountant = self._new_accountant()
        for sigma in self.history:
            self._compose(sigma)

    def record_round(self, num_replies: int) -> float:
        """Compose this round's release and return the cumulative ε.

        Flower adds noise σ·C/m to the mean of the replies; with fewer replies than m the mean is
        more sensitive and the effective multiplier is σ·replies/m."""
        if num_replies > 0:
            sigma = self.settings.noise_multiplier * min(1.0, num_replies / self.num_sampled)
            self.history.append(sigma)
            self._compose(sigma)
        return self.epsilon()

    def epsilon(self) -> float:
        return self.accountant.get_epsilon(self.settings.delta) if self.accountant.num_releases else 0.0

    def describe(self) -> str:
        return (f"client-level ε={self.epsilon():.3f} at δ={self.settings.delta:g} (RDP, {self.sampling}, "
                f"{self.accountant.num_releases} rounds, σ={self.settings.noise_multiplier:g})")


def central_dp_clipping_mod(msg: Message, context: Context, call_next: ClientAppCallable) -> Message:
    """Client-side clipping for the client-side DP wrappers; a pass-through for every other run."""
    config = msg.content.config_records.get("config")
    if config is None or KEY_CLIPPING_NORM not in config:
        return call_next(msg, context)
    mod = adaptiveclipping_mod if config.get(DP_CLIPPING) == "adaptive" else fixedclipping_mod
    return mod(msg, context, call_next)
