// Package mongodb is the Pulumi component of the hub's MongoDB: the outbox every reading
// lands in before it is relayed to Kafka (the original's "temporary store"). One
// StatefulSet pod with a volume, on the hub, reachable only by its clients.
package mongodb

import (
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/smartx-team/overcloud/components/workload"
)

// TypeToken is the Pulumi type of a MongoDB.
const TypeToken = "smartx:components:MongoDB"

// DefaultImage is the pinned upstream server image.
const DefaultImage = "docker.io/library/mongo:7.0.14"

// Port is the server port.
const Port = 27017

// User is the root user the entrypoint creates on first start.
const User = "root"

// URIOptions are the options of the client URI (see New): the root user's database,
// and journaled writes by default.
const URIOptions = "authSource=admin&journal=true"

// Args configures the server. Role defaults to hub.
type Args struct {
	workload.Base
	// Password of the root user (required; a Pulumi secret).
	Password pulumi.StringInput
	// Clients are the apps allowed to connect (app.kubernetes.io/name).
	Clients []string
	// URISecret names the Secret (key "uri") made for clients, holding the connection
	// URI with the password and URIOptions (default "<object name>-uri").
	URISecret string
	// Overrides of the server (default storage 5Gi).
	Overrides workload.Overrides
}

// MongoDB is a running server.
type MongoDB struct {
	pulumi.ResourceState

	// Host is the Service's DNS name.
	Host string
	// URISecret is the Secret (key "uri") holding the client URI.
	URISecret string
	// Endpoint is host:port, as an output.
	Endpoint pulumi.StringOutput `pulumi:"endpoint"`
}

// New declares the server name.
func New(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*MongoDB, error) {
	if args == nil || args.Password == nil {
		return nil, fmt.Errorf("mongodb %s: Password is required", name)
	}
	obj := workload.Or(args.ObjectName, name)
	m := &MongoDB{URISecret: workload.Or(args.URISecret, obj+"-uri")}
	if err := ctx.RegisterComponentResource(TypeToken, name, m, opts...); err != nil {
		return nil, fmt.Errorf("register %s: %w", name, err)
	}
	parent := pulumi.Parent(m)
	deps := pulumi.DependsOn(args.DependsOn)
	auth, err := workload.NewSecret(ctx, name+"-auth", &workload.SecretArgs{
		Name: obj + "-auth", Namespace: args.Namespace, Data: map[string]pulumi.StringInput{"password": args.Password},
	}, parent, deps)
	if err != nil {
		return nil, err
	}
	m.Host = fmt.Sprintf("%s.%s.svc.cluster.local", obj, args.Namespace)
	// authSource=admin: the root user is the admin database's. journal=true: the
	// client's default write concern is j: true, so a write the server acknowledged is
	// in its journal and survives a crash of the server; the hub bridge answers a device
	// only once its outbox write is acknowledged (and asks for j: true on every outbox
	// write itself, too). No w=majority: this is one server, not a replica set; the
	// bridge asks for a majority itself when the server reports one.
	uri, err := workload.NewSecret(ctx, name+"-uri", &workload.SecretArgs{
		Name: m.URISecret, Namespace: args.Namespace, Data: map[string]pulumi.StringInput{
			"uri": pulumi.Sprintf("mongodb://%s:%s@%s:%d/?%s", User, args.Password, m.Host, Port, URIOptions),
		},
	}, parent, deps)
	if err != nil {
		return nil, err
	}
	var ingress []workload.Peer
	for _, c := range args.Clients {
		ingress = append(ingress, workload.Peer{App: c, Ports: []int{Port}})
	}
	f, err := workload.New(ctx, name, &workload.Args{
		Namespace: args.Namespace, ObjectName: obj, Role: workload.Or(args.Role, workload.RoleHub), RoleLabel: args.RoleLabel,
		Image:     workload.Or(args.Image, DefaultImage),
		Ports:     []workload.Port{{Name: "mongodb", Port: Port}},
		Env:       map[string]string{"MONGO_INITDB_ROOT_USERNAME": User},
		SecretEnv: []workload.SecretEnv{{Name: "MONGO_INITDB_ROOT_PASSWORD", Secret: obj + "-auth", Key: "password"}},
		Writable:  []string{"/tmp", "/data/configdb"},
		Storage:   &workload.Storage{Size: "5Gi", Path: "/data/db"},
		// The image's mongodb user.
		RunAsUser: 999, RunAsGroup: 999,
		Liveness:  &workload.Probe{Port: Port, InitialDelay: 20, Period: 15},
		Readiness: &workload.Probe{Exec: []string{"mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"}, Period: 10},
		Ingress:   ingress,
		DependsOn: append([]pulumi.Resource{auth, uri}, args.DependsOn...),
		Overrides: args.Overrides,
	}, parent)
	if err != nil {
		return nil, err
	}
	m.Endpoint = f.Endpoint
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{"endpoint": m.Endpoint}); err != nil {
		return nil, err
	}
	return m, nil
}
