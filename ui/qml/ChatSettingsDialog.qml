// The open conversation's system prompt and sampling preset, and saving the current sampling
// values as a user preset.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

Dialog {
    id: dialog
    property var chat: null
    property var presets: null
    title: qsTr("Conversation settings")
    modal: true
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 64 + leftPadding + rightPadding)
    anchors.centerIn: Overlay.overlay
    standardButtons: Dialog.Save | Dialog.Cancel

    onOpened: {
        prompt.text = chat ? chat.systemPrompt : ""
        presetBox.currentIndex = presets && chat ? presets.indexOf(chat.presetName) : 0
        if (presets && chat) showPreset(presets.preset(chat.presetName))
    }

    function showPreset(p) {
        temperature.value = Math.round(p.temperature * 100)
        topP.value = Math.round(p.topP * 100)
        topK.value = p.topK
        minP.value = Math.round(p.minP * 100)
        repetition.value = Math.round(p.repetitionPenalty * 100)
        maxTokens.value = p.maxTokens
    }
    onAccepted: {
        chat.systemPrompt = prompt.text
        chat.presetName = presetBox.currentText
    }

    ColumnLayout {
        width: dialog.availableWidth
        spacing: 8
        Label { text: qsTr("System prompt"); font.bold: true; Accessible.name: text }
        ScrollView {
            Layout.fillWidth: true
            Layout.preferredHeight: fm.height * 7
            TextArea {
                id: prompt
                wrapMode: TextEdit.Wrap
                selectByMouse: true
                placeholderText: qsTr("Instructions the model sees before the conversation (optional)")
                Accessible.name: qsTr("System prompt")
            }
        }
        RowLayout {
            Label { text: qsTr("Sampling preset"); Accessible.name: text }
            ComboBox {
                id: presetBox
                Layout.fillWidth: true
                model: dialog.presets
                textRole: "name"
                Accessible.name: qsTr("Sampling preset")
                onActivated: (index) => dialog.showPreset(dialog.presets.preset(textAt(index)))
            }
        }
        Label { text: qsTr("Save as a new preset"); font.bold: true; Accessible.name: text }
        GridLayout {
            columns: 2
            Label { text: qsTr("Temperature (×100)"); Accessible.name: text }
            SpinBox { id: temperature; from: 0; to: 200; Accessible.name: qsTr("Temperature times 100") }
            Label { text: qsTr("Top-p (×100)"); Accessible.name: text }
            SpinBox { id: topP; from: 1; to: 100; Accessible.name: qsTr("Top-p times 100") }
            Label { text: qsTr("Top-k (0 = off)"); Accessible.name: text }
            SpinBox { id: topK; from: 0; to: 1000; editable: true; Accessible.name: qsTr("Top-k") }
            Label { text: qsTr("Min-p (×100)"); Accessible.name: text }
            SpinBox { id: minP; from: 0; to: 99; Accessible.name: qsTr("Min-p times 100") }
            Label { text: qsTr("Repetition penalty (×100)"); Accessible.name: text }
            SpinBox { id: repetition; from: 100; to: 300; Accessible.name: qsTr("Repetition penalty times 100") }
            Label { text: qsTr("Max tokens"); Accessible.name: text }
            SpinBox { id: maxTokens; from: 1; to: 32768; editable: true; Accessible.name: qsTr("Maximum tokens per reply") }
            TextField {
                id: presetName
                placeholderText: qsTr("Preset name")
                Accessible.name: qsTr("New preset name")
            }
            Button {
                text: qsTr("Save preset")
                Accessible.name: qsTr("Save preset")
                enabled: presetName.text.trim().length > 0
                onClicked: {
                    const values = {
                        temperature: temperature.value / 100, topP: topP.value / 100, topK: topK.value,
                        minP: minP.value / 100, repetitionPenalty: repetition.value / 100, maxTokens: maxTokens.value
                    }
                    if (dialog.presets.save(presetName.text, values)) {
                        presetBox.currentIndex = dialog.presets.indexOf(presetName.text.trim())
                        presetName.clear()
                    }
                }
            }
        }
    }
    FontMetrics { id: fm }
}
