// Settings: appearance (theme, font size), model defaults (folder, context, cache type) and how
// long trashed conversations are kept. Changes apply at once.
import QtQuick
import QtQuick.Controls
import QtQuick.Layouts
import QtQuick.Dialogs

Dialog {
    id: dialog
    property var appController: null
    readonly property var settings: appController ? appController.settings : null
    title: qsTr("Settings")
    modal: true
    padding: 16
    width: Math.min(Overlay.overlay ? Overlay.overlay.width - 32 : 10000, fm.averageCharacterWidth * 70 + leftPadding + rightPadding)
    anchors.centerIn: Overlay.overlay
    standardButtons: Dialog.Close

    readonly property var themeKeys: ["system", "light", "dark"]

    GridLayout {
        columns: 2
        columnSpacing: 16
        rowSpacing: 8
        width: dialog.availableWidth

        Label { text: qsTr("Theme"); Accessible.name: text }
        ComboBox {
            Layout.fillWidth: true
            model: [qsTr("Follow the system"), qsTr("Light"), qsTr("Dark")]
            currentIndex: dialog.settings ? Math.max(0, dialog.themeKeys.indexOf(dialog.settings.theme)) : 0
            Accessible.name: qsTr("Theme")
            onActivated: (index) => dialog.settings.theme = dialog.themeKeys[index]
        }

        Label { text: qsTr("Font size (points, 0 = system)"); Accessible.name: text }
        SpinBox {
            from: 0
            to: 32
            value: dialog.settings ? Math.round(dialog.settings.fontPointSize) : 0
            Accessible.name: qsTr("Font size in points")
            onValueModified: dialog.settings.fontPointSize = value
        }

        Label { text: qsTr("Default model folder"); Accessible.name: text }
        RowLayout {
            Layout.fillWidth: true
            TextField {
                id: folderField
                Layout.fillWidth: true
                text: dialog.settings ? dialog.settings.defaultModelFolder : ""
                selectByMouse: true
                Accessible.name: qsTr("Default model folder")
                onEditingFinished: dialog.settings.defaultModelFolder = text
            }
            Button {
                text: qsTr("Browse…")
                Accessible.name: qsTr("Choose the default model folder")
                onClicked: folderDialog.open()
            }
        }

        Label { text: qsTr("Default context (tokens, 0 = model's)"); Accessible.name: text }
        SpinBox {
            from: 0
            to: 131072
            stepSize: 1024
            editable: true
            value: dialog.settings ? dialog.settings.defaultContext : 0
            Accessible.name: qsTr("Default context length in tokens")
            onValueModified: dialog.settings.defaultContext = value
        }

        Label { text: qsTr("Default KV cache"); Accessible.name: text }
        ComboBox {
            model: ["fp16", "q8", "q4"]
            currentIndex: dialog.settings ? Math.max(0, find(dialog.settings.cacheType)) : 0
            Accessible.name: qsTr("Default KV cache type")
            onActivated: (index) => dialog.settings.cacheType = textAt(index)
        }

        Label { text: qsTr("Reserve per GPU (GB)"); Accessible.name: text }
        SpinBox {
            objectName: "gpuReserveBox"
            from: 0
            to: 640
            stepSize: 1
            editable: true
            value: dialog.settings ? Math.round(dialog.settings.gpuReserveGb * 10) : 5
            textFromValue: (v, locale) => Number(v / 10).toLocaleString(locale, "f", 1)
            valueFromText: (text, locale) => Math.round(Number.fromLocaleString(locale, text) * 10)
            validator: DoubleValidator { bottom: 0; top: 64 }
            Accessible.name: qsTr("Memory to leave free on each GPU when planning a load, in GB")
            onValueModified: dialog.settings.gpuReserveGb = value / 10
        }

        Label { text: qsTr("Keep trashed chats (days)"); Accessible.name: text }
        SpinBox {
            from: 1
            to: 3650
            editable: true
            value: dialog.appController ? dialog.appController.retentionDays : 30
            Accessible.name: qsTr("Days to keep conversations in the trash")
            onValueModified: dialog.appController.retentionDays = value
        }

        ServerSettings {
            Layout.columnSpan: 2
            Layout.fillWidth: true
            settings: dialog.settings
        }

        Label {
            Layout.columnSpan: 2
            Layout.fillWidth: true
            wrapMode: Text.Wrap
            opacity: 0.7
            font.pointSize: Qt.application.font.pointSize * 0.85
            text: dialog.appController && dialog.appController.history
                  ? qsTr("Conversations are stored in %1.").arg(dialog.appController.history.path) : ""
            Accessible.name: text
        }
    }

    FolderDialog {
        id: folderDialog
        title: qsTr("Default model folder")
        onAccepted: dialog.settings.defaultModelFolder = selectedFolder.toString()
    }
    FontMetrics { id: fm }
}
