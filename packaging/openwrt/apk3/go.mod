module github.com/wgstun/wgstun/packaging/openwrt/apk3

go 1.26
