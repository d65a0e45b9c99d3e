"""Every upstream example loads into the right kind and dumps back to exactly what was written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from numaflux.api import (
    InterStepBufferService,
    MonoVertex,
    Pipeline,
    Vertex,
    dump,
    load_object,
)

EXAMPLES = sorted(
    (Path(__file__).resolve().parents[2].parent / "shared" / "examples" / "numaflow").glob("*.yaml")
)


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def test_the_shared_examples_are_present() -> None:
    assert len(EXAMPLES) >= 16


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_and_round_trips_exactly(path: Path) -> None:
    for doc in _docs(path):
        obj = load_object(doc)
        assert obj.kind == doc["kind"]
        assert dump(obj) == doc


def test_examples_load_into_their_kinds() -> None:
    kinds = {p.name: type(load_object(_docs(p)[0])) for p in EXAMPLES}
    assert kinds["0-isbsvc-jetstream.yaml"] is InterStepBufferService
    assert kinds["1-simple-pipeline.yaml"] is Pipeline
    assert kinds["21-simple-mono-vertex.yaml"] is MonoVertex


def test_dump_injects_no_defaults() -> None:
    doc = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p"},
        "spec": {"vertices": [{"name": "in", "scale": {}, "source": {"generator": {}}}]},
    }
    obj = load_object(doc)
    assert isinstance(obj, Pipeline)
    assert obj.vertices[0].get_scale().get_max_replicas() == 50
    assert dump(obj) == doc


def test_dump_keeps_explicit_nulls_and_unknown_metadata() -> None:
    doc = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Vertex",
        "metadata": {
            "name": "p-v",
            "labels": {"a": "b"},
            "selfLink": "/x",
            "ownerReferences": [{"uid": "1"}],
        },
        "spec": {"name": "v", "pipelineName": "p", "replicas": None, "sink": {"log": {}}},
    }
    assert dump(load_object(doc)) == doc


def test_dump_of_an_object_built_in_code_has_api_version_and_kind() -> None:
    v = Vertex.model_validate({"spec": {"name": "v", "sink": {"blackhole": {}}}})
    assert dump(v) == {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Vertex",
        "spec": {"name": "v", "sink": {"blackhole": {}}},
    }


def test_kubernetes_pass_through_fields_survive_unchanged() -> None:
    container = {
        "image": "x",
        "env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}],
        "resources": {"limits": {"cpu": "1", "memory": "1Gi"}},
        "volumeMounts": [{"name": "v", "mountPath": "/v"}],
        "livenessProbe": {"httpGet": {"path": "/", "port": 8080}, "initialDelaySeconds": 3},
    }
    doc = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "p", "namespace": "ns"},
        "spec": {
            "vertices": [
                {
                    "name": "m",
                    "udf": {"container": container},
                    "volumes": [{"name": "v", "emptyDir": {}}],
                    "tolerations": [{"key": "k", "operator": "Exists"}],
                    "affinity": {"nodeAffinity": {"anything": [1, 2]}},
                    "nodeSelector": {"disk": "ssd"},
                    "sidecars": [{"name": "s", "image": "busybox"}],
                }
            ]
        },
    }
    assert dump(load_object(doc)) == doc


def test_a_full_featured_pipeline_round_trips() -> None:
    doc = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "Pipeline",
        "metadata": {"name": "full"},
        "spec": {
            "interStepBufferServiceName": "isb",
            "lifecycle": {
                "desiredPhase": "Paused",
                "pauseGracePeriodSeconds": 5,
                "deletionGracePeriodSeconds": 9,
            },
            "limits": {
                "readBatchSize": 10,
                "bufferMaxLength": 100,
                "bufferUsageLimit": 70,
                "readTimeout": "2s",
                "concurrency": 3,
                "rateLimit": {"max": 10, "min": 1, "rampUpDuration": "5s"},
            },
            "watermark": {
                "disabled": False,
                "maxDelay": "1m30s",
                "idleSource": {
                    "threshold": "10s",
                    "stepInterval": "1s",
                    "incrementBy": "1s",
                    "initSourceDelay": "20s",
                },
            },
            "templates": {
                "daemon": {"replicas": 2, "containerTemplate": {"resources": {}}},
                "job": {"ttlSecondsAfterFinished": 30, "backoffLimit": 2},
                "sideInputsManager": {"nodeSelector": {"a": "b"}},
                "vertex": {"initContainerTemplate": {"imagePullPolicy": "Never"}},
            },
            "sideInputs": [
                {
                    "name": "si",
                    "container": {"image": "si"},
                    "trigger": {"schedule": "@every 5s", "timezone": "UTC"},
                }
            ],
            "interStepBuffer": {"compression": {"type": "gzip"}},
            "ordered": {"enabled": True},
            "vertices": [
                {
                    "name": "in",
                    "source": {
                        "generator": {
                            "rpu": 5,
                            "duration": "1s",
                            "msgSize": 8,
                            "keyCount": 2,
                            "value": 3,
                            "jitter": "2s",
                            "valueBlob": "aGk=",
                        },
                        "transformer": {"container": {"image": "t"}},
                    },
                    "scale": {
                        "min": 1,
                        "max": 3,
                        "cron": {
                            "timezone": "UTC",
                            "schedules": [
                                {"start": "0 0 8 * * *", "end": "0 0 18 * * *", "min": 2, "max": 5}
                            ],
                        },
                    },
                },
                {
                    "name": "k",
                    "source": {
                        "kafka": {
                            "brokers": ["b:9092"],
                            "topic": "t",
                            "consumerGroup": "g",
                            "tls": {"insecureSkipVerify": True},
                            "config": "x: 1",
                            "sasl": {"mechanism": "PLAIN"},
                        }
                    },
                },
                {
                    "name": "n",
                    "source": {
                        "nats": {
                            "url": "nats://x",
                            "subject": "s",
                            "queue": "q",
                            "auth": {"token": {"name": "s", "key": "k"}},
                        }
                    },
                },
                {
                    "name": "j",
                    "source": {
                        "jetstream": {
                            "url": "nats://x",
                            "stream": "s",
                            "consumer": "c",
                            "deliver_policy": "all",
                            "filter_subjects": ["a"],
                        }
                    },
                },
                {
                    "name": "h",
                    "source": {
                        "http": {
                            "service": True,
                            "auth": {"token": {"name": "s", "key": "k"}},
                            "ports": {"https": 8443, "http": 8090},
                        }
                    },
                },
                {"name": "u", "source": {"udsource": {"container": {"image": "u"}}}},
                {
                    "name": "sq",
                    "source": {"sqs": {"awsRegion": "eu", "queueName": "q", "queueOwnerAWSAccountID": "1"}},
                },
                {
                    "name": "m",
                    "udf": {"container": {"image": "m"}, "retryStrategy": {"onFailure": "drop"}},
                    "sideInputs": ["si"],
                    "limits": {"readBatchSize": 5},
                    "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}},
                },
                {
                    "name": "r",
                    "partitions": 3,
                    "udf": {
                        "container": {"image": "r"},
                        "groupBy": {
                            "window": {"sliding": {"length": "60s", "slide": "10s", "streaming": True}},
                            "keyed": True,
                            "allowedLateness": "5s",
                            "storage": {"no_store": {}},
                        },
                    },
                },
                {
                    "name": "ss",
                    "udf": {
                        "container": {"image": "r"},
                        "groupBy": {
                            "window": {"session": {"timeout": "30s"}},
                            "storage": {"emptyDir": {"medium": "Memory"}},
                        },
                    },
                },
                {
                    "name": "out",
                    "sink": {
                        "udsink": {"container": {"image": "s"}},
                        "fallback": {"kafka": {"brokers": ["b"], "topic": "t", "setKey": True}},
                        "onSuccess": {"log": {}},
                        "retryStrategy": {
                            "backoff": {
                                "interval": "10ms",
                                "steps": 3,
                                "factor": 1.5,
                                "cap": "1s",
                                "jitter": 0.1,
                            },
                            "onFailure": "fallback",
                        },
                    },
                },
                {"name": "bh", "sink": {"blackhole": {}}},
            ],
            "edges": [
                {"from": "in", "to": "m", "onFull": "discardLatest"},
                {"from": "m", "to": "out", "conditions": {"tags": {"operator": "and", "values": ["a", "b"]}}},
            ],
        },
        "status": {
            "phase": "Running",
            "vertexCount": 3,
            "mapUDFCount": 1,
            "reduceUDFCount": 0,
            "drainedOnPause": False,
            "conditions": [
                {
                    "type": "Configured",
                    "status": "True",
                    "reason": "Successful",
                    "message": "Successful",
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
            ],
        },
    }
    assert dump(load_object(doc)) == doc


def test_isb_service_and_mono_vertex_with_every_section_round_trip() -> None:
    isb = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "InterStepBufferService",
        "metadata": {"name": "default"},
        "spec": {
            "jetstream": {
                "version": "2.10",
                "replicas": 1,
                "containerTemplate": {"resources": {"requests": {"cpu": "1"}}},
                "reloaderContainerTemplate": {},
                "metricsContainerTemplate": {},
                "persistence": {"storageClassName": "s", "accessMode": "ReadWriteOnce", "volumeSize": "1Gi"},
                "settings": "max_payload: 1048576",
                "startArgs": ["-D"],
                "bufferConfig": "stream:\n  maxMsgs: 5\n",
                "encryption": False,
                "tls": False,
                "affinity": {},
                "priorityClassName": "p",
            }
        },
        "status": {
            "phase": "Running",
            "type": "jetstream",
            "config": {
                "jetstream": {
                    "url": "nats://x:4222",
                    "streamConfig": "s",
                    "tlsEnabled": False,
                    "auth": {"basic": {}},
                }
            },
        },
    }
    mvtx = {
        "apiVersion": "numaflow.numaproj.io/v1alpha1",
        "kind": "MonoVertex",
        "metadata": {"name": "mv"},
        "spec": {
            "replicas": 2,
            "source": {"generator": {}},
            "sink": {"log": {}},
            "limits": {"readBatchSize": 5, "readTimeout": "3s"},
            "scale": {"min": 1, "max": 3},
            "daemonTemplate": {"replicas": 1},
            "lifecycle": {"desiredPhase": "Paused"},
            "updateStrategy": {"rollingUpdate": {"maxUnavailable": "50%"}},
            "streaming": True,
            "bypass": {"sink": {"tags": {"values": ["x"]}}},
        },
        "status": {"phase": "Paused", "replicas": 0, "desiredReplicas": 0, "selector": "a=b"},
    }
    assert dump(load_object(isb)) == isb
    assert dump(load_object(mvtx)) == mvtx
