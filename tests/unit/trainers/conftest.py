"""Fixtures shared by the tracker tests: a real sqlite MLflow store's target and client."""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from trainers.tracker import TrackingTarget


@pytest.fixture
def target(mlflow_uri: str, mlflow_experiment: str) -> TrackingTarget:
    return TrackingTarget(mlflow_uri, mlflow_experiment)


@pytest.fixture
def client(mlflow_uri: str) -> MlflowClient:
    return MlflowClient(tracking_uri=mlflow_uri)
