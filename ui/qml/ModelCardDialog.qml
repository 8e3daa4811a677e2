// The model card after a drop or Ctrl+O: what the folder holds (architecture, parameters,
// format and bits per weight, context length, tokenizer, chat template), the load choices
// (devices, context, KV cache type, split mode with GB per GPU, layers on the CPU) and the
// placement plan per device against each device's free memory. Load uses the plan and stays off
// while the plan does not fit.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: dialog
    property var inspector: null
    property var settings: null
    property var engine: null
    property var appController: null

    readonly property var card: inspector ? inspector.card : ({})
    readonly property var placement: inspector ? inspector.placement : null
    readonly property var targets: placement ? placement.targets : []
    readonly property var gpus: placement ? placement.gpus : []
    readonly property bool canLoad: placement !== null && placement.ready && placement.fits && !!card.path

    title: card && card.name ? card.name : qsTr("Model")
    modal: true
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 100 + leftPadding + rightPadding)
    anchors.centerIn: Overlay.overlay

    onOpened: {
        const preferred = settings && settings.defaultContext > 0 ? settings.defaultContext : 4096
        contextBox.value = Math.min(preferred, card.contextLength || preferred)
        cacheBox.currentIndex = Math.max(0, cacheBox.find(settings ? settings.cacheType : "fp16"))
        if (placement) {
            placement.reserveGb = settings ? settings.gpuReserveGb : 0.5
            placement.context = contextBox.value
            placement.cacheType = cacheBox.currentText
            placement.mode = "auto"
            placement.cpuLayers = -1
        }
    }

    footer: DialogButtonBox {
        Button {
            objectName: "loadButton"
            text: qsTr("Load")
            highlighted: true
            enabled: dialog.canLoad
            DialogButtonBox.buttonRole: DialogButtonBox.ActionRole
            Accessible.name: dialog.canLoad ? qsTr("Load this model with this plan")
                                            : qsTr("Load (off: the plan does not fit)")
            onClicked: dialog.load()
        }
        Button {
            text: qsTr("Cancel")
            DialogButtonBox.buttonRole: DialogButtonBox.RejectRole
            Accessible.name: qsTr("Close the model card")
        }
    }

    // Loads with the plan; refused (the card stays open with the advice) when it does not fit.
    function load() {
        if (!canLoad || !appController || !appController.openPlanned(card.path)) return false
        close()
        return true
    }

    ColumnLayout {
        width: dialog.availableWidth
        spacing: 10

        Label {
            Layout.fillWidth: true
            text: dialog.card.path || ""
            elide: Text.ElideMiddle
            opacity: 0.7
            Accessible.name: qsTr("Folder: %1").arg(text)
        }

        GridLayout {
            columns: 4
            columnSpacing: 16
            rowSpacing: 4
            Layout.fillWidth: true
            CardField { label: qsTr("Architecture"); value: dialog.card.architecture || "" }
            CardField { label: qsTr("Parameters"); value: dialog.card.parametersText || "" }
            CardField { label: qsTr("Format"); value: dialog.card.formatText || "" }
            CardField { label: qsTr("Weights"); value: dialog.card.weightBytesText || "" }
            CardField { label: qsTr("Context length"); value: dialog.card.contextLength ? dialog.card.contextLength + "" : "" }
            CardField { label: qsTr("Layers"); value: dialog.card.layers ? qsTr("%1 (%2 heads, %3 KV)").arg(dialog.card.layers).arg(dialog.card.heads).arg(dialog.card.kvHeads) : "" }
            CardField { label: qsTr("Tokenizer"); value: dialog.card.tokenizer || "" }
            CardField { label: qsTr("Chat template"); value: dialog.card.chatTemplate || "" }
        }

        Label {
            Layout.fillWidth: true
            visible: dialog.card.loadedAsLlama === true
            wrapMode: Text.Wrap
            text: qsTr("This architecture is not on the supported list; its files are Llama-shaped, so it runs as Llama.")
            Accessible.name: text
        }

        MenuSeparator { Layout.fillWidth: true }

        GridLayout {
            columns: 4
            columnSpacing: 12
            Layout.fillWidth: true
            Label { text: qsTr("Devices"); Accessible.name: text }
            ComboBox {
                id: targetBox
                objectName: "targetBox"
                Layout.fillWidth: true
                model: dialog.targets.map(t => t.name)
                currentIndex: dialog.placement ? Math.max(0, dialog.targets.findIndex(t => t.id === dialog.placement.target)) : 0
                Accessible.name: qsTr("Devices to load on")
                onActivated: (index) => { if (dialog.placement) dialog.placement.target = dialog.targets[index].id }
            }
            Label { text: qsTr("Split"); Accessible.name: text; visible: dialog.gpus.length > 0 }
            ComboBox {
                id: modeBox
                objectName: "modeBox"
                Layout.fillWidth: true
                visible: dialog.gpus.length > 0
                textRole: "text"
                valueRole: "mode"
                currentIndex: dialog.placement ? Math.max(0, ["auto", "manual", "fit", "shared"].indexOf(dialog.placement.mode)) : 0
                // Sharing every layer (tensor parallelism) needs two or more GPUs.
                model: [
                    { text: qsTr("Automatic"), mode: "auto" },
                    { text: qsTr("Manual (GB per GPU)"), mode: "manual" },
                    { text: qsTr("Largest context that fits"), mode: "fit" }
                ].concat(dialog.gpus.length > 1 ? [{ text: qsTr("Tensor parallel (all GPUs)"), mode: "shared" }] : [])
                Accessible.name: qsTr("How to split the model over the GPUs")
                onActivated: { if (dialog.placement) dialog.placement.mode = currentValue }
            }
            Label { text: qsTr("Context (tokens)"); Accessible.name: text }
            SpinBox {
                id: contextBox
                from: 256
                to: Math.max(256, dialog.card.contextLength || 8192)
                stepSize: 256
                editable: true
                Layout.fillWidth: true
                Accessible.name: qsTr("Context length in tokens")
                onValueChanged: { if (dialog.placement) dialog.placement.context = value }
            }
            Label { text: qsTr("KV cache"); Accessible.name: text }
            ComboBox {
                id: cacheBox
                Layout.fillWidth: true
                model: ["fp16", "q8", "q4"]
                Accessible.name: qsTr("KV cache type")
                onCurrentTextChanged: { if (dialog.placement) dialog.placement.cacheType = currentText }
            }
        }

        Flow {
            Layout.fillWidth: true
            spacing: 12
            visible: dialog.placement !== null && dialog.placement.mode === "manual" && dialog.gpus.length > 0
            Repeater {
                model: dialog.gpus
                delegate: RowLayout {
                    required property var modelData
                    required property int index
                    spacing: 6
                    Label { text: qsTr("%1 (GB)").arg(modelData.id); Accessible.name: text }
                    SpinBox {
                        objectName: "gpuSplit" + index
                        from: 0
                        to: Math.max(1, Math.ceil(modelData.freeGb * 10))
                        stepSize: 1
                        editable: true
                        value: dialog.placement ? Math.round((dialog.placement.gpuSplitGb[index] || 0) * 10) : 0
                        textFromValue: (v, locale) => Number(v / 10).toLocaleString(locale, "f", 1)
                        valueFromText: (text, locale) => Math.round(Number.fromLocaleString(locale, text) * 10)
                        validator: DoubleValidator { bottom: 0 }
                        Accessible.name: qsTr("Memory for the model on %1, in GB").arg(modelData.id)
                        onValueModified: { if (dialog.placement) dialog.placement.setGpuSplit(index, value / 10) }
                    }
                }
            }
        }

        RowLayout {
            Layout.fillWidth: true
            visible: dialog.gpus.length > 0 && !(dialog.placement && dialog.placement.mode === "shared")
            Label { text: qsTr("Layers on the CPU"); Accessible.name: text }
            Slider {
                id: cpuSlider
                objectName: "cpuSlider"
                Layout.fillWidth: true
                from: -1
                to: dialog.placement ? dialog.placement.layerCount : 0
                stepSize: 1
                snapMode: Slider.SnapAlways
                value: dialog.placement ? dialog.placement.cpuLayers : -1
                Accessible.name: qsTr("Layers to run on the CPU")
                Accessible.description: cpuLabel.text
                onMoved: { if (dialog.placement) dialog.placement.cpuLayers = Math.round(value) }
            }
            Label {
                id: cpuLabel
                Layout.minimumWidth: fm.averageCharacterWidth * 24
                text: cpuSlider.value < 0
                      ? qsTr("Automatic (%1 now)").arg(dialog.placement ? dialog.placement.cpuLayerCount : 0)
                      : qsTr("%1 of %2").arg(Math.round(cpuSlider.value)).arg(dialog.placement ? dialog.placement.layerCount : 0)
                Accessible.name: qsTr("Layers on the CPU: %1").arg(text)
            }
        }

        PlacementView {
            objectName: "placementView"
            Layout.fillWidth: true
            placement: dialog.placement
        }
    }
    FontMetrics { id: fm }
}
