"""The python-backend model the end-to-end tests serve on real Triton, with the interface of fraud-detector.

Input ``features`` FP32 ``[64]``, output ``fraud_probability`` FP32 ``[1]``: a logistic score of the sum
of the features. Its behaviour follows the model's name: ``*-erroring`` raises (Triton counts a
backend failure), ``*-slow`` takes 300 ms per request.
"""

import time

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.name = args["model_name"]

    def execute(self, requests):
        if self.name.endswith("-erroring"):
            raise RuntimeError(f"{self.name}: failing on purpose")
        if self.name.endswith("-slow"):
            time.sleep(0.3)
        responses = []
        for request in requests:
            features = pb_utils.get_input_tensor_by_name(request, "features").as_numpy()
            score = (1 / (1 + np.exp(-features.sum(axis=1, keepdims=True) / 8))).astype(np.float32)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("fraud_probability", score)]))
        return responses
