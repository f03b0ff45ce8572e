"""The MLflow tracking server: managed PostgreSQL, a cloud bucket for artifacts, workload identity, OIDC in front.

Kubernetes side, in the tracking namespace (which starts closed: default-deny, DNS egress only):

* ``Job`` ``mlflow-db-upgrade-v<version>``: ``mlflow db upgrade`` once per MLflow version, before the server
  rolls (Pulumi waits for the Job), so replicas never race on schema migrations;
* ``Deployment`` ``mlflow-server``: ``mlflow server`` with the backend store URI from a Secret (env
  ``MLFLOW_BACKEND_STORE_URI``, never on the command line or in a manifest), proxied artifacts on the bucket,
  ``--allowed-hosts`` for exactly the Service and ingress names and the pod's own address (Prometheus scrapes
  ``/metrics`` by pod IP), ``--expose-prometheus`` on an emptyDir, restricted security context, probes on
  ``/health``, zone and node spread;
* with ``auth.mode: oidc``: ``Deployment`` ``mlflow-auth`` (oauth2-proxy) in front, the only pods that may reach
  the server; the ``mlflow`` Service points at the proxy, ``mlflow-server`` at the server;
* ``Service`` ``mlflow`` (port 80): the address every client uses, ``http://mlflow.<namespace>.svc.cluster.local``;
* ``NetworkPolicy`` per pod role for exactly the flows it needs (the monitoring stack admits its own Prometheus to
  the server's port, as it knows its namespace); ``PodDisruptionBudget`` with two or more replicas;
* ``Ingress`` for ``hostname`` with TLS, to the proxy.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ..clouds.target import CloudTarget
from ..config.mlflow import MlflowConfig, mlflow_issues
from ..identity import WorkloadIdentity, WorkloadIdentityArgs
from ..security import restricted_pod
from .command import (
    AUTH_SECRET,
    CLUSTER_DOMAIN,
    DB_SECRET,
    DB_SECRET_KEY,
    METRICS_DIR,
    NAME_LABEL,
    POD_IP_ENV,
    PROXY_PORT,
    PROXY_UID,
    READINESS_PATH,
    SERVER_PORT,
    SERVER_SERVICE,
    SERVER_UID,
    SERVICE,
    SERVICE_ACCOUNT,
    SERVICE_PORT,
    allowed_hosts,
    backend_store_uri,
    pod_address_hosts,
    server_args,
)
from .database_tls import CA_CONFIG_MAP, CA_FILE, pod_trust
from .exposure import ingress, network_policies
from .objects import MlflowObjects, selector
from .stores import ArtifactStore, BackendDatabase, StoreArgs, default_bucket_name


def _secret(value: pulumi.Input[str]) -> pulumi.Output[str]:
    """A secret Output (typed: the SDK's generic signature trips mypy)."""
    return pulumi.Output.secret(value)


@dataclass(frozen=True)
class MlflowServerArgs:
    """One stack's tracking server."""

    config: MlflowConfig
    """The server: version, replicas, resources, database, artifact bucket, authentication, host name."""
    cloud: CloudTarget
    """The cloud: the managed database, the artifact store and the workload identity are its."""
    cluster_name: pulumi.Input[str] | None
    """The managed cluster (a name or the Output of a cluster in the same program): its OIDC issuer (workload
    identity) and, on aws and gcp, its network. Required (None is reported, as the stack's validation does)."""
    namespace: pulumi.Input[str]
    """The tracking namespace (created closed by PlatformNamespace)."""
    cluster_location: str | None = None
    """gcp only: the cluster's region or zone. Default: the cloud region."""
    oidc_client_secret: pulumi.Input[str] | None = None
    """The OAuth client secret (a Pulumi secret), required with auth.mode oidc."""
    protect: bool = False
    """guardrails.protect_stateful: protect and deletion protection on the database and the bucket."""
    labels: dict[str, str] = field(default_factory=dict)
    """Labels of every Kubernetes object."""
    tags: dict[str, str] = field(default_factory=dict)
    """Tags of every cloud resource."""


class MlflowServer(pulumi.ComponentResource):
    """MLflow on Kubernetes with a managed database, an artifact bucket, workload identity and OIDC.

    Outputs: ``tracking_uri`` (in-cluster), ``public_url`` (None without hostname), ``artifact_destination``,
    ``bucket``, ``database_host``, ``service_account_name`` and ``identity`` (the cloud identity of the pods).

    The providers come from ``opts``: ``pulumi.ResourceOptions(providers=[cloud_provider, k8s_provider])``. Every
    cloud resource and Kubernetes object is a child of the component and inherits the provider of its package.
    """

    tracking_uri: pulumi.Output[str]
    public_url: str | None
    artifact_destination: str
    bucket: str

    def __init__(self, name: str, args: MlflowServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:tracking:MlflowServer", name, None, opts)
        cfg = args.config
        problems = mlflow_issues(cfg, args.cloud.provider, cluster_name=args.cluster_name)
        if problems:
            raise ValueError("MlflowServer: " + "; ".join(f"{path}: expected {what}, got {value!r}" for path, value, what in problems))
        self.oidc = cfg.auth.mode == "oidc"
        if self.oidc and args.oidc_client_secret is None:
            raise ValueError(f"MlflowServer: auth.mode 'oidc' needs the client secret (config key {cfg.auth.secret_key})")
        self.bucket = cfg.artifact_bucket or default_bucket_name(args.cloud, pulumi.get_project(), pulumi.get_stack())
        self.public_url = f"https://{cfg.hostname}" if cfg.hostname else None
        assert args.cluster_name is not None  # mlflow_issues reports it missing
        self._name, self._args = name, args
        self._ns = pulumi.Output.from_input(args.namespace)
        self._objects = MlflowObjects(name=name, namespace=args.namespace, labels=args.labels, version=cfg.version)

        adapter = importlib.import_module(f"{__package__}.{args.cloud.provider}")
        cloud = pulumi.ResourceOptions(parent=self)
        store = StoreArgs(
            name=name,
            config=cfg,
            cloud=args.cloud,
            cluster_name=args.cluster_name,
            cluster_location=args.cluster_location,
            bucket=self.bucket,
            tags=args.tags,
            protect=args.protect,
        )
        password = random.RandomPassword(
            f"{name}-db-password",
            length=32,
            special=False,
            min_lower=2,
            min_upper=2,
            min_numeric=2,
            opts=pulumi.ResourceOptions(parent=self),
        )
        secret_password = _secret(password.result)
        database: BackendDatabase = adapter.database(store, secret_password, cloud)
        artifacts: ArtifactStore = adapter.artifact_store(store, cloud)
        self.artifact_destination = artifacts.destination
        self.database_host = database.host

        # Grants after the bucket exists: the identity's cloud children wait for the store.
        def after_store(t: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult:
            return pulumi.ResourceTransformationResult(
                t.props, pulumi.ResourceOptions.merge(t.opts, pulumi.ResourceOptions(depends_on=artifacts.resources))
            )

        identity = WorkloadIdentity(
            f"{name}-identity",
            WorkloadIdentityArgs(
                namespace=args.namespace,
                service_account=SERVICE_ACCOUNT,
                cloud=args.cloud,
                cluster_name=args.cluster_name,
                grants=[artifacts.grant],
                labels={**args.labels, NAME_LABEL: "mlflow"},
                tags=args.tags,
            ),
            opts=pulumi.ResourceOptions(parent=self, transformations=[after_store]),
        )
        self.service_account_name = identity.service_account_name
        self.identity = identity.identity

        in_cluster = pulumi.ResourceOptions(parent=self)
        self._trust = pod_trust(database.tls, cfg.server_image, self._container_security(SERVER_UID))
        if database.tls.ca_pem is not None:
            k8s.core.v1.ConfigMap(
                f"{name}-db-ca", metadata=self._objects.meta(CA_CONFIG_MAP, "server"), data={CA_FILE: database.tls.ca_pem}, opts=in_cluster
            )
        uri = pulumi.Output.all(database.host, secret_password).apply(lambda v: backend_store_uri(database, v[0], v[1]))
        db_secret = k8s.core.v1.Secret(
            f"{name}-db-secret",
            metadata=self._objects.meta(DB_SECRET, "server"),
            type="Opaque",
            string_data={DB_SECRET_KEY: _secret(uri)},
            opts=pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=database.resources)),
        )
        migration = self._migration(db_secret, in_cluster)
        server = self._server(identity, artifacts, db_secret, migration, in_cluster)
        self.deployment = server
        if self.oidc:
            self._proxy(args.oidc_client_secret, in_cluster)
        network_policies(self._objects, cloud=args.cloud.provider, oidc=self.oidc, fetches_ca=self._trust.fetches, opts=in_cluster)
        if cfg.hostname:
            ingress(self._objects, cfg, in_cluster)
        self.tracking_uri = self._ns.apply(lambda ns: f"http://{SERVICE}.{ns}.svc.{CLUSTER_DOMAIN}")
        self.register_outputs(
            {
                "tracking_uri": self.tracking_uri,
                "public_url": self.public_url,
                "artifact_destination": self.artifact_destination,
                "bucket": self.bucket,
                "database_host": self.database_host,
                "service_account_name": self.service_account_name,
                "identity": self.identity,
            }
        )

    # --- building blocks -------------------------------------------------------------------------------------------

    @staticmethod
    def _container_security(uid: int) -> k8s.core.v1.SecurityContextArgs:
        return k8s.core.v1.SecurityContextArgs(
            run_as_non_root=True,
            run_as_user=uid,
            run_as_group=uid,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            privileged=False,
            capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
            seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
        )

    def _server_env(self, extra: dict[str, str]) -> list[k8s.core.v1.EnvVarArgs]:
        plain = {
            "MLFLOW_DISABLE_TELEMETRY": "true",  # no DNS lookups of the telemetry endpoint, which egress would block anyway
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",  # no huey job runners: the server's only processes are its workers
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "PYTHONDONTWRITEBYTECODE": "1",
            **extra,
        }
        return [
            k8s.core.v1.EnvVarArgs(
                name="MLFLOW_BACKEND_STORE_URI",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=DB_SECRET, key=DB_SECRET_KEY)
                ),
            ),
            *(k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in plain.items() if value),
        ]

    def _scratch(self, size: str) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
        return (
            [k8s.core.v1.VolumeArgs(name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size))],
            [k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )

    def _spread(self, component: str) -> list[k8s.core.v1.TopologySpreadConstraintArgs]:
        pods = k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component))
        return [
            k8s.core.v1.TopologySpreadConstraintArgs(
                topology_key=key,
                max_skew=1,
                when_unsatisfiable=when,
                label_selector=pods,
                match_label_keys=["pod-template-hash"],
            )
            for key, when in (("topology.kubernetes.io/zone", "ScheduleAnyway"), ("kubernetes.io/hostname", "ScheduleAnyway"))
        ]

    def _migration(self, db_secret: k8s.core.v1.Secret, opts: pulumi.ResourceOptions) -> k8s.batch.v1.Job:
        """`mlflow db upgrade` once per MLflow version; the server rolls only after it succeeded."""
        cfg = self._args.config
        volumes, mounts = self._scratch("1Gi")
        volumes, mounts = [*volumes, *self._trust.volumes], [*mounts, *self._trust.mounts]
        job_name = f"mlflow-db-upgrade-v{cfg.version.replace('.', '-')}"
        return k8s.batch.v1.Job(
            f"{self._name}-db-upgrade",
            metadata=self._objects.meta(job_name, "db-migration"),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=4,
                active_deadline_seconds=1800,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**self._args.labels, **selector("db-migration")}),
                    spec=k8s.core.v1.PodSpecArgs(
                        restart_policy="Never",
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=restricted_pod(SERVER_UID),
                        init_containers=self._trust.init_containers or None,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="db-upgrade",
                                image=cfg.server_image,
                                command=["mlflow"],
                                # $(VAR) is expanded by the kubelet from the Secret-backed env, so no manifest holds the URI.
                                args=["db", "upgrade", "$(MLFLOW_BACKEND_STORE_URI)"],
                                env=self._server_env({}),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "250m", "memory": "512Mi"}, limits={"cpu": "1", "memory": "1Gi"}
                                ),
                                security_context=self._container_security(SERVER_UID),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[db_secret])),
        )

    def _server(
        self,
        identity: WorkloadIdentity,
        artifacts: ArtifactStore,
        db_secret: k8s.core.v1.Secret,
        migration: k8s.batch.v1.Job,
        opts: pulumi.ResourceOptions,
    ) -> k8s.apps.v1.Deployment:
        cfg, args = self._args.config, self._args
        services = [SERVER_SERVICE, SERVICE] if self.oidc else [SERVICE]
        hosts = self._ns.apply(lambda ns: ",".join(allowed_hosts(ns, cfg.hostname, services) + pod_address_hosts(SERVER_PORT)))
        origins = [self.public_url] if self.public_url else []
        volumes, mounts = self._scratch(cfg.resources.scratch)
        volumes.append(k8s.core.v1.VolumeArgs(name="metrics", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit="256Mi")))
        mounts.append(k8s.core.v1.VolumeMountArgs(name="metrics", mount_path=METRICS_DIR))
        volumes, mounts = [*volumes, *self._trust.volumes], [*mounts, *self._trust.mounts]
        pod_ip = k8s.core.v1.EnvVarArgs(
            name=POD_IP_ENV,
            value_from=k8s.core.v1.EnvVarSourceArgs(field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP")),
        )
        http_get = k8s.core.v1.HTTPGetActionArgs(path="/health", port="http")
        # the kubelet sends the pod's address as Host, which --allowed-hosts admits (pod_address_hosts)
        ready_get = k8s.core.v1.HTTPGetActionArgs(path=READINESS_PATH, port="http")
        deployment = k8s.apps.v1.Deployment(
            f"{self._name}-server",
            metadata=self._objects.meta("mlflow-server", "server"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=cfg.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("server")),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**args.labels, **selector("server"), **identity.pod_labels}),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=identity.service_account_name,
                        automount_service_account_token=False,
                        enable_service_links=False,  # a Service named mlflow would inject MLFLOW_PORT=tcp://..., which mlflow reads
                        security_context=restricted_pod(SERVER_UID),
                        topology_spread_constraints=self._spread("server"),
                        init_containers=self._trust.init_containers or None,
                        termination_grace_period_seconds=60,
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="mlflow",
                                image=cfg.server_image,
                                command=["mlflow"],
                                args=server_args(cfg.workers, artifacts.destination, hosts, origins),  # type: ignore[arg-type]
                                env=[*self._server_env(artifacts.env), pod_ip],
                                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=SERVER_PORT, protocol="TCP")],
                                startup_probe=k8s.core.v1.ProbeArgs(
                                    http_get=http_get, period_seconds=5, timeout_seconds=5, failure_threshold=60
                                ),
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=ready_get, period_seconds=10, timeout_seconds=5, failure_threshold=3
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=http_get, period_seconds=20, timeout_seconds=5, failure_threshold=3
                                ),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": cfg.resources.cpu, "memory": cfg.resources.memory},
                                    limits={"cpu": cfg.resources.cpu_limit, "memory": cfg.resources.memory},
                                ),
                                security_context=self._container_security(SERVER_UID),
                                volume_mounts=mounts,
                            )
                        ],
                        volumes=volumes,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[db_secret, migration])),
        )
        self._service(SERVER_SERVICE if self.oidc else SERVICE, "server", SERVER_PORT if self.oidc else SERVICE_PORT, opts)
        self._budget("mlflow-server", "server", cfg.replicas, opts)
        return deployment

    def _proxy(self, client_secret: pulumi.Input[str] | None, opts: pulumi.ResourceOptions) -> k8s.apps.v1.Deployment:
        """oauth2-proxy: browser sign-in with the issuer, bearer JWTs of the issuer for programmatic clients."""
        cfg, auth = self._args.config, self._args.config.auth
        cookie = random.RandomPassword(f"{self._name}-cookie-secret", length=32, special=False, opts=pulumi.ResourceOptions(parent=self))
        secret = k8s.core.v1.Secret(
            f"{self._name}-auth-secret",
            metadata=self._objects.meta(AUTH_SECRET, "auth-proxy"),
            type="Opaque",
            string_data={"client-secret": _secret(client_secret or ""), "cookie-secret": _secret(cookie.result)},
            opts=opts,
        )
        upstream = self._ns.apply(lambda ns: f"http://{SERVER_SERVICE}.{ns}.svc.{CLUSTER_DOMAIN}:{SERVER_PORT}/")
        proxy_args: list[pulumi.Input[str]] = [
            "--provider=oidc",
            f"--oidc-issuer-url={auth.issuer_url}",
            f"--client-id={auth.client_id}",
            f"--http-address=0.0.0.0:{PROXY_PORT}",
            upstream.apply(lambda u: f"--upstream={u}"),
            *(f"--email-domain={d}" for d in auth.email_domains or ["*"]),
            *(f"--allowed-group={g}" for g in auth.allowed_groups or []),
            "--reverse-proxy=true",
            "--pass-host-header=true",
            "--skip-jwt-bearer-tokens=true",
            "--code-challenge-method=S256",
            "--cookie-secure=true",
            "--cookie-samesite=lax",
            "--skip-provider-button=true",
            "--silence-ping-logging=true",
            "--upstream-timeout=600s",
        ]
        if cfg.hostname:
            proxy_args.append(f"--redirect-url=https://{cfg.hostname}/oauth2/callback")

        def from_secret(env: str, key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=env,
                value_from=k8s.core.v1.EnvVarSourceArgs(secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=AUTH_SECRET, key=key)),
            )

        deployment = k8s.apps.v1.Deployment(
            f"{self._name}-auth",
            metadata=self._objects.meta("mlflow-auth", "auth-proxy"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=cfg.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector("auth-proxy")),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate", rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(max_surge=1, max_unavailable=0)
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={**self._args.labels, **selector("auth-proxy")}),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        security_context=restricted_pod(PROXY_UID),
                        topology_spread_constraints=self._spread("auth-proxy"),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name="oauth2-proxy",
                                image=auth.image,
                                args=proxy_args,
                                env=[
                                    from_secret("OAUTH2_PROXY_CLIENT_SECRET", "client-secret"),
                                    from_secret("OAUTH2_PROXY_COOKIE_SECRET", "cookie-secret"),
                                ],
                                ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=PROXY_PORT, protocol="TCP")],
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/ready", port="http"), period_seconds=10, timeout_seconds=3
                                ),
                                liveness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(path="/ping", port="http"), period_seconds=20, timeout_seconds=3
                                ),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests={"cpu": "50m", "memory": "64Mi"}, limits={"cpu": "500m", "memory": "256Mi"}
                                ),
                                security_context=self._container_security(PROXY_UID),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[secret])),
        )
        self._service(SERVICE, "auth-proxy", SERVICE_PORT, opts)
        self._budget("mlflow-auth", "auth-proxy", cfg.replicas, opts)
        return deployment

    def _service(self, service_name: str, component: str, port: int, opts: pulumi.ResourceOptions) -> k8s.core.v1.Service:
        return k8s.core.v1.Service(
            f"{self._name}-svc-{component}",
            metadata=self._objects.meta(service_name, component),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector(component),
                ports=[k8s.core.v1.ServicePortArgs(name="http", port=port, target_port="http", protocol="TCP")],
            ),
            opts=opts,
        )

    def _budget(self, budget_name: str, component: str, replicas: int, opts: pulumi.ResourceOptions) -> None:
        """A disruption budget where there is redundancy to keep: one pod at a time may be evicted."""
        if replicas < 2:
            return
        k8s.policy.v1.PodDisruptionBudget(
            f"{self._name}-pdb-{component}",
            metadata=self._objects.meta(budget_name, component),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector(component)),
                unhealthy_pod_eviction_policy="AlwaysAllow",
            ),
            opts=opts,
        )
