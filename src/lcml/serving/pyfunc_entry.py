"""MLflow "models from code" entry point: logged with each model instead of a pickle."""

from mlflow.models import set_model

from lcml.serving.pyfunc import LightCurveClassifier

set_model(LightCurveClassifier())
