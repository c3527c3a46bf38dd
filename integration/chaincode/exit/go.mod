module github.com/fabric-peer-k8s/fabric-peer-k8s/integration/chaincode/exit

go 1.22.0
