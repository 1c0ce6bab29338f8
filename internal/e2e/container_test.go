package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/kinesyslog/kinesyslog/internal/config"
	"github.com/kinesyslog/kinesyslog/internal/testenv"
)

// imageSpoolDir is the spool directory, and volume, of the image.
const imageSpoolDir = "/var/spool/kinesyslog"

// imageConfig is what the test reads of an image's OCI configuration, as `buildah inspect`
// shows it.
type imageConfig struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Volumes      map[string]struct{} `json:"Volumes"`
}

// buildah runs buildah with its images and containers in a storage directory of the test's
// own, with the vfs driver, which needs no overlay mounts.
type buildah struct {
	path, storage string
}

func (b buildah) command(args ...string) *exec.Cmd {
	return exec.Command(b.path, append([]string{"--root", filepath.Join(b.storage, "root"),
		"--runroot", filepath.Join(b.storage, "run"), "--storage-driver", "vfs"}, args...)...)
}

func (b buildah) run(t *testing.T, args ...string) []byte {
	t.Helper()
	out, err := b.command(args...).Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("buildah %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return out
}

// TestContainerImage builds the image of the repository's Dockerfile with buildah, inspects it
// and runs it. The golang image of the build stage cannot be pulled here (no registry is
// reachable), so the test takes the static binary Binary builds, as the build stage does, and
// replaces that stage with a directory of the same files (--build-context build=DIR): what is
// built is the Dockerfile's own final stage, FROM scratch. The image then runs, as its non-root
// user, on its volume, with its own configuration but for loopback ports and an output
// directory: the relay receives a message over TCP and delivers it.
func TestContainerImage(t *testing.T) {
	b := buildah{path: Program(t, "buildah"), storage: t.TempDir()}
	if os.Getuid() != 0 {
		// Rootless buildah writes files as the user's subordinate IDs, which only it may remove.
		t.Cleanup(func() { b.command("unshare", "rm", "-rf", b.storage).Run() })
	}
	probe := t.TempDir()
	if err := os.WriteFile(filepath.Join(probe, "Dockerfile"), []byte("FROM scratch\nCOPY Dockerfile /\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := b.command("bud", "--isolation", "chroot", "-t", "probe", probe).CombinedOutput(); err != nil {
		testenv.Missing(t, fmt.Errorf("buildah cannot build even an image FROM scratch on this machine (it needs root, or user namespaces with subordinate IDs): %v\n%s", err, out))
	}

	root := RepoRoot()
	stage := filepath.Join(t.TempDir(), "build")
	buildStage(t, stage)
	b.run(t, "bud", "--isolation", "chroot", "--build-context", "build="+stage,
		"-f", filepath.Join(root, "Dockerfile"), "-t", "kinesyslog-test", root)

	var inspected struct {
		OCIv1 struct {
			Config imageConfig `json:"config"`
		} `json:"OCIv1"`
	}
	if err := json.Unmarshal(b.run(t, "inspect", "--type", "image", "kinesyslog-test"), &inspected); err != nil {
		t.Fatalf("buildah inspect: %v", err)
	}
	cfg := inspected.OCIv1.Config
	exposed := checkImageConfig(t, cfg)

	ctr := strings.TrimSpace(string(b.run(t, "from", "--name", "kinesyslog-test-run", "kinesyslog-test")))
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	// The relay runs as the image's user and writes what it delivers into out, bound into the
	// container (a rootless buildah maps that user to a subordinate ID): anyone may write.
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	ports := testenv.FreePorts(t, 3)
	metrics := net.JoinHostPort("127.0.0.1", Port(ports[2]))
	args := []string{"run", "--isolation", "chroot", "--mount", "type=bind,src=" + out + ",dst=/out,rw"}
	for _, kv := range []string{"KINESYSLOG_OUTPUT=/out", "KINESYSLOG_ADDRESS=127.0.0.1",
		"KINESYSLOG_TCP_PORT=" + Port(ports[0]), "KINESYSLOG_UDP_PORT=" + Port(ports[1]), "KINESYSLOG_TLS_PORT=0",
		"KINESYSLOG_METRICS_ADDRESS=" + metrics} {
		args = append(args, "--env", kv)
	}
	// buildah run takes the command in full: the image's ENTRYPOINT and CMD, checked above.
	args = append(append(args, ctr, "--"), append(cfg.Entrypoint, cfg.Cmd...)...)
	cmd := b.command(args...)
	var log testenv.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("container output:\n%s", log.String())
		}
	})
	relay := &Relay{MetricsAddress: metrics} // for Scrape, which reads nothing else
	for _, address := range []string{net.JoinHostPort("127.0.0.1", Port(ports[0])), metrics} {
		testenv.Eventually(t, "the relay in the container to listen on "+address, Accepting("tcp", address))
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", Port(ports[0])))
	if err != nil {
		t.Fatal(err)
	}
	const message = "<13>1 2026-01-02T03:04:05Z host app - - - hello from the container"
	if _, err := fmt.Fprintf(conn, "%s\n", message); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	testenv.Eventually(t, "the relay to receive the message", func() bool {
		return relay.Scrape(t)["kinesyslog_messages_received_total"] >= 1
	})

	// buildah kills what it runs when it is signalled itself: stop the relay, found by its
	// parents, as a container runtime would.
	pid := descendant(t, cmd.Process.Pid, "kinesyslog")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Fatalf("the container exited with %v after SIGTERM", err)
		}
	case <-time.After(testenv.PollTimeout):
		t.Fatal("the relay in the container did not stop after SIGTERM")
	}
	var got []string
	for _, r := range Delivered(t, out) {
		for _, e := range r.LogEvents {
			got = append(got, e.Message)
		}
	}
	if diff := cmp.Diff([]string{message}, got); diff != "" {
		t.Errorf("delivered by the container (-want +got):\n%s", diff)
	}
	if os.Getuid() == 0 {
		uid, _, _ := strings.Cut(cfg.User, ":")
		checkOwner(t, out, uid)
	}
	if strings.Contains(log.String(), "level=WARN") {
		t.Errorf("the relay in the container warned:\n%s", log.String())
	}
	t.Logf("image: user %s, volume %s, ports %v; delivered a message from the container", cfg.User, imageSpoolDir, exposed)
}

// buildStage writes to dir what the Dockerfile's build stage leaves under /rootfs: the static
// binary (Binary builds it as the build stage does), a CA bundle (a test CA's: the relay reaches
// no AWS here) and the spool directory, mode 0700.
func buildStage(t *testing.T, dir string) {
	t.Helper()
	rootfs := filepath.Join(dir, "rootfs")
	bin, err := os.ReadFile(Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "kinesyslog"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(NewPKI(t, "container").CAFile)
	if err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(rootfs, "etc", "ssl", "certs")
	spool := filepath.Join(rootfs, imageSpoolDir)
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(certs, "ca-certificates.crt"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(spool, 0o700); err != nil {
		t.Fatal(err)
	}
}

// checkImageConfig checks the image's configuration: a non-root user, `kinesyslog listen`, the
// spool a volume, every KINESYSLOG_* variable one the relay reads, and every port they
// configure exposed. It returns the ports exposed.
func checkImageConfig(t *testing.T, cfg imageConfig) []string {
	t.Helper()
	uid, _, _ := strings.Cut(cfg.User, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("image user %q, want a numeric user other than root", cfg.User)
	}
	if want := []string{"/kinesyslog"}; !slices.Equal(cfg.Entrypoint, want) {
		t.Errorf("image entrypoint %q, want %q", cfg.Entrypoint, want)
	}
	if want := []string{"listen"}; !slices.Equal(cfg.Cmd, want) {
		t.Errorf("image cmd %q, want %q", cfg.Cmd, want)
	}
	if _, ok := cfg.Volumes[imageSpoolDir]; !ok {
		t.Errorf("image volumes %v, want %s", cfg.Volumes, imageSpoolDir)
	}
	known := map[string]bool{}
	for _, v := range config.Variables() {
		known[v.Name] = true
	}
	wantPorts := map[string]bool{}
	env := map[string]string{}
	for _, kv := range cfg.Env {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, config.EnvPrefix) {
			continue
		}
		env[name] = value
		if !known[name] {
			t.Errorf("variable %s: no option reads it", name)
		}
		switch name {
		case "KINESYSLOG_UDP_PORT", "KINESYSLOG_GELF_UDP_PORT":
			for _, p := range strings.Fields(value) {
				wantPorts[p+"/udp"] = true
			}
		case "KINESYSLOG_TCP_PORT", "KINESYSLOG_TLS_PORT", "KINESYSLOG_RELP_PORT", "KINESYSLOG_RELP_TLS_PORT",
			"KINESYSLOG_GELF_TCP_PORT", "KINESYSLOG_GELF_TLS_PORT":
			for _, p := range strings.Fields(value) {
				wantPorts[p+"/tcp"] = true
			}
		case "KINESYSLOG_METRICS_ADDRESS":
			_, p, err := net.SplitHostPort(value)
			if err != nil {
				t.Errorf("image %s: %v", kv, err)
			}
			wantPorts[p+"/tcp"] = true
		}
	}
	if env["KINESYSLOG_SPOOL_DIR"] != imageSpoolDir || env["KINESYSLOG_METRICS_ADDRESS"] == "" {
		t.Errorf("image variables %v, want KINESYSLOG_SPOOL_DIR=%s and a KINESYSLOG_METRICS_ADDRESS", env, imageSpoolDir)
	}
	var exposed []string
	for p := range cfg.ExposedPorts {
		exposed = append(exposed, p)
	}
	slices.Sort(exposed)
	for p := range wantPorts {
		if !slices.Contains(exposed, p) {
			t.Errorf("image exposes %v, not %s, which its variables configure", exposed, p)
		}
	}
	return exposed
}

// descendant returns the process id of the first descendant of pid whose command name is comm,
// read from /proc, failing the test when there is none.
func descendant(t *testing.T, pid int, comm string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parents := map[int]int{}
	names := map[int]string{}
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses, the last ')' ends it.
		open, end := strings.IndexByte(string(stat), '('), strings.LastIndexByte(string(stat), ')')
		fields := strings.Fields(string(stat[end+1:]))
		if open < 0 || end < open || len(fields) < 2 {
			continue
		}
		names[p] = string(stat[open+1 : end])
		parents[p], _ = strconv.Atoi(fields[1])
	}
	for p, name := range names {
		if name != comm {
			continue
		}
		for a := parents[p]; a > 1; a = parents[a] {
			if a == pid {
				return p
			}
		}
	}
	t.Fatalf("no process %q under %d", comm, pid)
	return 0
}

// checkOwner fails the test unless every file under dir belongs to uid.
func checkOwner(t *testing.T, dir, uid string) {
	t.Helper()
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || path == dir {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && strconv.FormatUint(uint64(st.Uid), 10) != uid {
			t.Errorf("%s belongs to uid %d, want the image's user %s", path, st.Uid, uid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// manifestFile is the example Kubernetes manifest of contrib/kubernetes, from this package's
// directory.
var manifestFile = filepath.Join("..", "..", "contrib", "kubernetes", "kinesyslog.yaml")

// A k8sObject is what the test reads of the manifest's objects.
type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name        string            `yaml:"name"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"metadata"`
			Spec struct {
				SecurityContext struct {
					RunAsUser int `yaml:"runAsUser"`
					FSGroup   int `yaml:"fsGroup"`
				} `yaml:"securityContext"`
				Containers []k8sContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		Ports []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
			Protocol   string `yaml:"protocol"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type k8sContainer struct {
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		Protocol      string `yaml:"protocol"`
	} `yaml:"ports"`
	ReadinessProbe k8sProbe   `yaml:"readinessProbe"`
	LivenessProbe  k8sProbe   `yaml:"livenessProbe"`
	VolumeMounts   []k8sMount `yaml:"volumeMounts"`
}

type k8sProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"`
	} `yaml:"httpGet"`
}

type k8sMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
}

// TestKubernetesManifest checks the example manifest against the Dockerfile and the relay's
// options: the image's user, its spool volume on a claim, every KINESYSLOG_* variable one the
// relay reads, the ports the variables and the image configure, the probes on the metrics port,
// and Services that reach named ports of the pods.
func TestKubernetesManifest(t *testing.T) {
	image := dockerfileConfig(t, filepath.Join("..", "..", "Dockerfile"))
	data, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var objects []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", manifestFile, err)
		}
		objects = append(objects, o)
	}
	i := slices.IndexFunc(objects, func(o k8sObject) bool { return o.Kind == "StatefulSet" })
	if i < 0 {
		t.Fatalf("%s has no StatefulSet", manifestFile)
	}
	set := objects[i]
	pod := set.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", manifestFile, len(pod.Containers))
	}
	c := pod.Containers[0]
	uid, _, _ := strings.Cut(image.User, ":")
	if strconv.Itoa(pod.SecurityContext.RunAsUser) != uid || strconv.Itoa(pod.SecurityContext.FSGroup) != uid {
		t.Errorf("pod runs as %d with fsGroup %d, want the image's user %s for both", pod.SecurityContext.RunAsUser, pod.SecurityContext.FSGroup, uid)
	}
	claims := map[string]bool{}
	for _, v := range set.Spec.VolumeClaimTemplates {
		claims[v.Metadata.Name] = true
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m k8sMount) bool { return claims[m.Name] && m.MountPath == imageSpoolDir }) {
		t.Errorf("the container mounts %v, want a volume claim at the image's spool %s", c.VolumeMounts, imageSpoolDir)
	}

	// The relay's variables: the image's, then the manifest's over them.
	env := slices.Clone(image.Env)
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	listened := checkImageConfig(t, imageConfig{User: image.User, Env: env, Entrypoint: image.Entrypoint,
		Cmd: image.Cmd, Volumes: image.Volumes, ExposedPorts: image.ExposedPorts})
	named := map[string]string{}
	for _, p := range c.Ports {
		port := fmt.Sprintf("%d/%s", p.ContainerPort, strings.ToLower(p.Protocol))
		named[p.Name] = port
		if !slices.Contains(listened, port) {
			t.Errorf("container port %s (%s) is not one the image exposes: %v", p.Name, port, listened)
		}
	}
	metrics := lastValue(env, "KINESYSLOG_METRICS_ADDRESS")
	for _, probe := range []struct{ path, port string }{
		{"/readyz", c.ReadinessProbe.HTTPGet.Port}, {"/healthz", c.LivenessProbe.HTTPGet.Port},
	} {
		if _, p, _ := net.SplitHostPort(metrics); named[probe.port] != p+"/tcp" {
			t.Errorf("probe %s on port %q (%s), want the metrics port %s", probe.path, probe.port, named[probe.port], metrics)
		}
	}
	if c.ReadinessProbe.HTTPGet.Path != "/readyz" || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("probes on %q and %q, want readiness on /readyz and liveness on /healthz", c.ReadinessProbe.HTTPGet.Path, c.LivenessProbe.HTTPGet.Path)
	}
	proxied := strings.Fields(lastValue(env, "KINESYSLOG_PROXY_PROTOCOL"))
	services := 0
	for _, o := range objects {
		if o.Kind != "Service" {
			continue
		}
		services++
		proxy := o.Metadata.Annotations["service.beta.kubernetes.io/aws-load-balancer-proxy-protocol"] == "*"
		for _, p := range o.Spec.Ports {
			target, ok := named[p.TargetPort]
			switch {
			case !ok:
				t.Errorf("Service %s port %d targets %q, no port of the pod", o.Metadata.Name, p.Port, p.TargetPort)
			case proxy && !slices.Contains(proxied, strings.TrimSuffix(target, "/tcp")):
				t.Errorf("Service %s sends PROXY headers to %s, which KINESYSLOG_PROXY_PROTOCOL %q does not expect", o.Metadata.Name, target, proxied)
			}
		}
	}
	if services == 0 {
		t.Errorf("%s has no Service", manifestFile)
	}
}

// lastValue returns the value of the last assignment of name in env, as a process sees it.
func lastValue(env []string, name string) string {
	v := ""
	for _, kv := range env {
		if n, value, _ := strings.Cut(kv, "="); n == name {
			v = value
		}
	}
	return v
}

// dockerfileConfig reads what the final stage of the Dockerfile at path configures: its USER,
// ENV, VOLUME, EXPOSE, ENTRYPOINT and CMD, in the forms this Dockerfile writes them.
func dockerfileConfig(t *testing.T, path string) imageConfig {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(data), "\\\n", " ")
	final := text[strings.LastIndex(text, "\nFROM "):]
	cfg := imageConfig{ExposedPorts: map[string]struct{}{}, Volumes: map[string]struct{}{}}
	for _, line := range strings.Split(final, "\n") {
		instr, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest = strings.TrimSpace(rest)
		var list []string
		if strings.HasPrefix(rest, "[") {
			if err := json.Unmarshal([]byte(rest), &list); err != nil {
				t.Fatalf("%s: %s: %v", path, line, err)
			}
		}
		switch instr {
		case "USER":
			cfg.User = rest
		case "ENV":
			cfg.Env = append(cfg.Env, strings.Fields(rest)...)
		case "VOLUME":
			for _, v := range list {
				cfg.Volumes[v] = struct{}{}
			}
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				cfg.ExposedPorts[p] = struct{}{}
			}
		case "ENTRYPOINT":
			cfg.Entrypoint = list
		case "CMD":
			cfg.Cmd = list
		}
	}
	return cfg
}
