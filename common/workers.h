/* workers.h: entry points of the worker modes and what they are passed */
#ifndef WORKERS_H
#define WORKERS_H

/*
 * The supervisor starts a worker by fork + exec of its own binary as
 *   stable-egressd --worker <name> key=value ...
 * with the worker's end of a SOCK_SEQPACKET socketpair as fd 3
 * (WORKER_FD), stdin on /dev/null, stdout/stderr shared for logs, an
 * environment of only what the worker needs, and nothing else.  The
 * entry point gets the key=value arguments (argv[0..argc-1]) and
 * returns the process exit status:
 *   0  after MSG_SHUTDOWN or EOF on the socket,
 *   2  credential or configuration unusable (HELLO_CONFIG was sent),
 *   1  any other fatal error.
 *
 * Keys every worker gets: log_format (json|text), log_level,
 * check (1: load credentials, send HELLO, wait for MSG_SHUTDOWN or
 * EOF, exit; used by --check-config).
 *
 * k8s-worker: kubeconfig (path; empty = in-cluster), service_host,
 *   service_port (in-cluster KUBERNETES_SERVICE_HOST/PORT),
 *   sa_dir (service-account directory, default
 *   /var/run/secrets/kubernetes.io/serviceaccount), candidate_label,
 *   active_label (key=value each), prepared_label (key=value or empty:
 *   no pods watched), prepared_namespace, lease_namespace, lease_name,
 *   identity (reportingInstance of Events).
 * hcloud-worker: token_path, endpoint (base URL incl. /v1), ca_file
 *   (PEM path or empty for the system bundle), fips (comma list of
 *   Floating IP names, primary first).
 * probe-worker: port, timeout_ms, interval_ms.
 */
#define WORKER_FD 3

int kube_main(int fd, int argc, char **argv);
int hc_main(int fd, int argc, char **argv);
int probe_main(int fd, int argc, char **argv);

#endif /* WORKERS_H */
