"""The predictor interfaces: distinct inputs in, one row of named features per input out.

Two kinds:

- `Predictor` (offline baselines: gc, motif, kmer, precomputed) computes features directly;
  it is cheap, so it keeps no store.
- `ModelPredictor` (AlphaGenome through the API; local checkpoints: alphagenome_local,
  torchscript) asks a model whose answers are scarce (metered requests, or GPU time). Its
  answers (track profiles) go to the prediction store under a key of everything that changes
  the model's answer; features are computed from stored profiles, so a new feature
  definition never costs a request or a forward pass.

Both report the inputs that failed instead of inventing values for them. A predictor class
declares what the rest of the pipeline needs to know about it before it is built (`Declared`):
its settings schema, its label, what it is built with and the local file it reads, if any; and,
once built, its headline feature (`headline_feature`): the one feature summary.json shows under
the shared `headline` block, so every predictor has the same columns in `dvc exp show`.
conf/predictor/<name>.yaml names the class (`_target_`); predictors/resolve.py does the rest.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from mprabench.errors import BenchmarkError
from mprabench.provenance import SOURCE_OFFLINE

if TYPE_CHECKING:
    from mprabench.predictors.store import Profile, ProfileStore


class PredictionInterrupted(BenchmarkError):
    """Ctrl-C: the run stopped; what is stored stays stored."""


class ResultSink(Protocol):
    """Where an offline predictor puts its features."""

    def put(self, input_sha256: str, features: Mapping[str, float]) -> None: ...

    def put_many(self, features: Mapping[str, Mapping[str, float]]) -> None: ...


@dataclass(frozen=True)
class PredictionFailure:
    input_sha256: str
    error: str


@dataclass
class PredictionReport:
    """What a predictor did with the inputs it was given."""

    requested: int = 0  # inputs this run sent a request for
    retries: int = 0
    stored_by_others: int = 0  # answered meanwhile by a concurrent run sharing the store
    failures: list[PredictionFailure] = field(default_factory=list)


@dataclass(frozen=True)
class RequestBudget:
    """The cost guard of a model predictor: a run needing more new requests stops before the first.

    `setting` names the key that raises the limit; `seconds_per_request` turns a count into a
    rough duration for the message (None: no estimate)."""

    max_new_requests: int
    setting: str
    seconds_per_request: float | None = None


class TooManyRequests(BenchmarkError):
    """A run would send more new requests than its budget allows; nothing was sent."""


class Declared(abc.ABC):
    """What a predictor class declares, read before it is built (predictors/resolve.py)."""

    settings: ClassVar[type]  # the dataclass that types its `predictor` section of params.yaml
    label: ClassVar[str]  # its name in figures, the report and MLflow (a model adds its version)
    # BuildContext fields (predictors/resolve.py) the constructor takes as keywords after its settings
    build_context: ClassVar[tuple[str, ...]] = ()
    # the setting holding the path of a local file it reads: local_inputs fingerprints that file,
    # so editing it in place reruns predict
    local_file_setting: ClassVar[str | None] = None
    # true: that file (or folder) is large, e.g. model weights: fingerprinted by the size and
    # modification time of each file instead of a SHA-256 on every run
    local_file_by_size_and_mtime: ClassVar[bool] = False

    @classmethod
    def setting_problems(cls, settings: Any, params: Any) -> list[str]:
        """Checks relating its settings to other sections (ranges of one field are declared on the field)."""
        return []

    @abc.abstractmethod
    def headline_feature(self) -> str:
        """The one feature that stands for this predictor where predictors are compared: one of the
        features it writes, fixed by its settings before any result is seen (summary.json's
        `headline` block; `evaluate.headline_feature` may name another primary feature instead)."""


class Predictor(Declared):
    """An offline predictor: turns distinct inputs (SHA-256 -> sequence) into features."""

    source: ClassVar[str] = SOURCE_OFFLINE  # provenance.json's `source`

    @abc.abstractmethod
    def predict(self, inputs: Mapping[str, str], sink: ResultSink) -> PredictionReport:
        """Predict every input, handing each success to `sink`; failures are reported, not raised."""

    def training_statistics(self, inputs: Mapping[str, str]) -> dict[str, Any]:
        """Per feature, fit statistics of a predictor trained on activity (out-of-fold R², refit-null
        element p); default none: untrained predictors have nothing to report."""
        return {}

class ModelPredictor(Declared):
    """A model whose answers (profiles) are stored and requested (or computed) at most once."""

    # the setting naming its prediction store folder (null: the repository's store)
    store_setting: ClassVar[str] = "store"

    def request_budget(self) -> RequestBudget | None:
        """How many new requests one run may send before it must be told to go on; None: no limit
        (a local checkpoint costs no quota). A remote service overrides it."""
        return None

    @abc.abstractmethod
    def store_key_fields(self) -> dict[str, Any]:
        """What changes the model's answer (model, version, organism, outputs, terms, padding)."""

    @abc.abstractmethod
    def catalogue(self) -> dict[str, list[dict[str, Any]]]:
        """The tracks this configuration chooses, per output (asks the service; called only when
        an input must be requested or the store does not say which tracks the last run used).
        The store keeps answers per catalogue, so a changed catalogue never mixes with old answers."""

    @abc.abstractmethod
    def request_profiles(self, inputs: Mapping[str, str], store: ProfileStore) -> PredictionReport:
        """Request every input not in `store`, putting each answer there as it arrives; an answer
        whose tracks differ from `store.tracks()` fails for that input, naming the difference."""

    @abc.abstractmethod
    def features(self, profile: Profile) -> dict[str, float]:
        """The configured features of one stored answer."""

    def close(self) -> None:
        """Release what the run opened (a service connection); called once the run ends, however it ends."""

    @abc.abstractmethod
    def provenance(self, store: ProfileStore) -> dict[str, Any]:
        """Source, model, organism, biosamples and track counts behind the stored answers."""
