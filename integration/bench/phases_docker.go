/*
Copyright fabric-peer-k8s authors. All Rights Reserved.

SPDX-License-Identifier: Apache-2.0
*/

package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// dockerLaunch is a DockerVM chaincode container as `docker inspect` shows
// it, with the launch as the bench measured it (see k8sLaunch).
type dockerLaunch struct {
	// Inspect is the output of `docker inspect --type container <name>`.
	Inspect           []byte
	Start, Registered time.Time
	PollRes           time.Duration
}

// phases: launch start → container created → started → registered.
// DockerVM creates the container, copies the TLS files into it and starts
// it; there is no scheduling nor pull (the image was built on the daemon).
func (l dockerLaunch) phases() (Phases, error) {
	var inspect []struct {
		Created string
		State   struct{ StartedAt string }
	}
	if err := json.Unmarshal(l.Inspect, &inspect); err != nil {
		return Phases{}, fmt.Errorf("reading docker inspect: %w", err)
	}
	if len(inspect) != 1 {
		return Phases{}, fmt.Errorf("docker inspect: %d containers, want 1", len(inspect))
	}
	marks := []Mark{
		{Name: "launch start", At: l.Start, Res: l.PollRes, Source: "launch metric observed less chaincode_launch_duration"},
		dockerTimeMark("container created", phPrepare, "docker inspect .Created", inspect[0].Created),
		dockerTimeMark("container started", phStart, "docker inspect .State.StartedAt", inspect[0].State.StartedAt),
		{Name: "registration", Ends: phRegister, At: l.Registered, Res: l.PollRes, Source: "launch metric first observed"},
	}
	return phasesOf(marks), nil
}

// dockerTimeMark is a boundary from a Docker timestamp (RFC 3339 with
// nanoseconds; "0001-01-01T00:00:00Z" when unset).
func dockerTimeMark(name, ends, source, value string) Mark {
	t, err := time.Parse(time.RFC3339Nano, value)
	switch {
	case err != nil:
		return Mark{Name: name, Ends: ends, Missing: fmt.Sprintf("%s %q: %v", source, value, err)}
	case t.IsZero() || t.Year() <= 1:
		return Mark{Name: name, Ends: ends, Missing: source + " not set"}
	}
	return Mark{Name: name, Ends: ends, At: t, Res: resDocker, Source: source}
}

// dockerEvent is one line of `docker events --format '{{json .}}'`.
type dockerEvent struct {
	Type   string
	Action string
	Actor  struct {
		ID         string
		Attributes map[string]string
	}
	TimeNano int64 `json:"timeNano"`
}

func (e dockerEvent) at() time.Time { return time.Unix(0, e.TimeNano) }

// parseDockerEvents reads `docker events --format '{{json .}}'`.
func parseDockerEvents(out []byte) ([]dockerEvent, error) {
	var evs []dockerEvent
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var e dockerEvent
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return nil, fmt.Errorf("docker event %q: %w", line, err)
		}
		evs = append(evs, e)
	}
	return evs, sc.Err()
}

// dockerBuild is a DockerVM build as the daemon's events show it: Fabric
// creates a container of the builder image, uploads the package into it,
// starts it to compile, and then builds the image from the binaries (one
// `tag` event at the end); the container is removed, so `docker inspect`
// cannot show it afterwards.
type dockerBuild struct {
	// Events of the daemon between Start and Returned.
	Events []dockerEvent
	// Builder is the builder image (chaincode.builder), Image the name
	// DockerVM gives the chaincode image (without a tag).
	Builder, Image  string
	Start, Returned time.Time
}

// phases: install → compile container created → started (the package
// uploaded into it) → died (compiled) → image tagged (built) → install
// returned.
func (b dockerBuild) phases() Phases {
	var id string
	var created, started, died, tagged Mark
	created = Mark{Name: "compile container created", Ends: phPrepare, Missing: "no create event of a container of " + b.Builder}
	started = Mark{Name: "compile container started", Ends: phReceive, Missing: "no start event of the compile container"}
	died = Mark{Name: "compile container exited", Ends: phCompile, Missing: "no die event of the compile container"}
	tagged = Mark{Name: "image tagged", Ends: phImage, Missing: "no tag event of " + b.Image}
	for _, e := range b.Events {
		switch {
		case e.Type == "container" && e.Action == "create" && id == "" && e.Actor.Attributes["image"] == b.Builder:
			id = e.Actor.ID
			created = Mark{Name: created.Name, Ends: created.Ends, At: e.at(), Res: resDocker, Source: "docker event create"}
		case e.Type == "container" && id != "" && e.Actor.ID == id && e.Action == "start" && started.At.IsZero():
			started = Mark{Name: started.Name, Ends: started.Ends, At: e.at(), Res: resDocker, Source: "docker event start"}
		case e.Type == "container" && id != "" && e.Actor.ID == id && e.Action == "die" && died.At.IsZero():
			died = Mark{Name: died.Name, Ends: died.Ends, At: e.at(), Res: resDocker, Source: "docker event die"}
		case e.Type == "image" && e.Action == "tag" && strings.HasPrefix(e.Actor.Attributes["name"], b.Image+":"):
			tagged = Mark{Name: tagged.Name, Ends: tagged.Ends, At: e.at(), Res: resDocker, Source: "docker event tag"}
		}
	}
	return phasesOf([]Mark{
		{Name: "install start", At: b.Start, Res: resClock, Source: "install CLI started"},
		created, started, died, tagged,
		{Name: "install returned", Ends: phReturn, At: b.Returned, Res: resClock, Source: "install CLI exited"},
	})
}
