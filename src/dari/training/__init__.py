"""Model training across sites: federated logistic regression (FedAvg, FedProx) in NumPy, exported to ONNX."""

from dari.training.logistic import (
    LogisticProblem,
    centralised_fit,
    local_update,
    log_loss,
    pooled_moments,
    standardise,
)

__all__ = ["LogisticProblem", "centralised_fit", "local_update", "log_loss", "pooled_moments", "standardise"]
