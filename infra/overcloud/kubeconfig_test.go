package overcloud

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

type pair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  string
	kpem string
}

// issue makes a certificate signed by parent (self-signed when parent is nil).
func issue(t *testing.T, tmpl *x509.Certificate, parent *pair) *pair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, _ := x509.MarshalECPrivateKey(key)
	return &pair{cert, key, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))}
}

func ca(t *testing.T, cn string) *pair {
	return issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: cn}, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil)
}

// apiServer is a TLS server that, like kube-apiserver, requires a client certificate
// of clientCA and reports ready nodes from the counter.
func apiServer(t *testing.T, serverCA, clientCA *pair, ready *atomic.Int32) *httptest.Server {
	t.Helper()
	serving := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "k3s"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, serverCA)
	pool := x509.NewCertPool()
	pool.AddCert(clientCA.cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		groups := r.TLS.PeerCertificates[0].Subject.Organization
		if len(groups) != 1 || groups[0] != AdminGroup {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		switch r.URL.Path {
		case "/readyz":
			_, _ = w.Write([]byte("ok"))
		case "/api/v1/nodes":
			var items []string
			for i := int32(0); i < ready.Load(); i++ {
				items = append(items, `{"status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}]}}`)
			}
			items = append(items, `{"status":{"conditions":[{"type":"Ready","status":"False"}]}}`)
			_, _ = w.Write([]byte(`{"kind":"NodeList","items":[` + strings.Join(items, ",") + `]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	cert, err := tls.X509KeyPair([]byte(serving.pem), []byte(serving.kpem))
	if err != nil {
		t.Fatal(err)
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func TestWaitForClusterUsesTheKubeconfig(t *testing.T) {
	serverCA, clientCA := ca(t, "server-ca"), ca(t, "client-ca")
	admin := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "smartx-admin", Organization: []string{AdminGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, clientCA)
	var ready atomic.Int32
	srv := apiServer(t, serverCA, clientCA, &ready)

	kc, err := BuildKubeconfig(srv.URL, serverCA.pem, admin.pem, admin.kpem)
	if err != nil {
		t.Fatal(err)
	}
	// Nodes come up while we wait.
	go func() {
		for i := 0; i < 3; i++ {
			time.Sleep(30 * time.Millisecond)
			ready.Add(1)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := waitForCluster(ctx, kc, 3, 10*time.Millisecond); err != nil {
		t.Fatalf("wait: %v", err)
	}
	if time.Since(start) < 80*time.Millisecond {
		t.Error("returned before 3 nodes were ready")
	}

	// A server of another CA, or a client certificate of another CA, never counts.
	otherCA := ca(t, "impostor-ca")
	impostor := issue(t, &x509.Certificate{Subject: pkix.Name{CommonName: "x", Organization: []string{AdminGroup}},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, otherCA)
	for name, kc := range map[string][3]string{
		"server CA": {otherCA.pem, admin.pem, admin.kpem},
		"client":    {serverCA.pem, impostor.pem, impostor.kpem},
	} {
		cfg, err := BuildKubeconfig(srv.URL, kc[0], kc[1], kc[2])
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		err = waitForCluster(ctx, cfg, 1, 10*time.Millisecond)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "not ready") {
			t.Errorf("%s: wait returned %v", name, err)
		}
	}
}
